/*
 * Files: an atomic write for state files, and file names relative to the
 * configuration file's folder.  Outside the query path (they allocate and
 * block on the disk).
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * Replaces `path` with `len` bytes of `data` so that a reader, or a crash
 * at any point, sees either the old file or the new one whole: a temp file
 * in the same folder (unique name, `path`.tmp.XXXXXX), write, fchmod to
 * `mode` (exactly, whatever the umask), fsync, rename over `path`, fsync
 * of the folder so that the rename is durable.  Returns 0, or GTM_EIO with
 * errno kept and, when `err` is not NULL, "FILE: reason" in it (the temp
 * file is removed).
 */
int gtm_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          char *err, size_t errlen);

/*
 * `name` resolved against the folder of `base` (a file's path, usually
 * the configuration file): a relative `name` gets `base`'s folder in
 * front; an absolute `name`, or a `base` without a folder, is copied.  New
 * string (gtm_xmalloc'd).
 */
char *gtm_path_relative(const char *base, const char *name);
