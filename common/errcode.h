/*
 * Error codes shared by every gtm module.
 *
 * Functions that can fail return int: 0 on success or a negative GTM_E*
 * value (Knot's errcode.h does the same).  gtm_strerror() names them.
 */
#pragma once

enum {
	GTM_EOK = 0,
	GTM_ENOMEM = -1,    /* allocation failed (query path only; elsewhere we abort) */
	GTM_EINVAL = -2,    /* invalid argument or input */
	GTM_EIO = -3,       /* a read, write or socket call failed; see errno */
	GTM_EPARSE = -4,    /* a file could not be parsed */
	GTM_EEXIST = -5,    /* a duplicate name */
	GTM_ENOENT = -6,    /* a name that does not exist */
	GTM_ERANGE = -7,    /* a value out of range */
	GTM_ESPACE = -8,    /* an output buffer is too small */
};

/* Returns a static English description of a GTM_E* code. */
const char *gtm_strerror(int code);
