/*
 * libFuzzer target for the configuration loader (gtm/conf/conf*.c on
 * libconfig): every input is written to a file and loaded as gtm.conf.
 *
 * Invariants: no crash, no leak, no undefined behaviour; the loader
 * either returns a configuration and no error (warnings allowed), or no
 * configuration and at least one error; every message names a file first ("/PATH:...",
 * the configuration or a file it includes), so that an operator always
 * learns where the problem is.
 *
 * The file lives in a folder of its own under /dev/shm (or TMPDIR), made
 * once; relative paths in the input (zone files, state files, includes)
 * resolve there and mostly do not exist, which is part of what is tested.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/log.h"
#include "gtm/conf/conf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char path[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gtm_log_set_level(GTM_LOG_ERR - 1);   /* the log is not under test */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/gtm-fuzz-conf.XXXXXX", base ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_conf: mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/gtm.conf", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	gtm_diag_t d = { 0 };
	gtm_conf_t *c = gtm_conf_load(path, &d);
	/* Refused exactly when there is an error; warnings (common/diag.h)
	 * come with a configuration that loads. */
	if ((c == NULL) != (gtm_diag_errors(&d) > 0)) {
		fprintf(stderr, "fuzz_conf: %s with %zu errors (%zu messages)\n",
		        c ? "a configuration" : "no configuration", gtm_diag_errors(&d), d.count);
		abort();
	}
	for (size_t i = 0; i < d.count; i++)
		if (d.msgs[i][0] != '/' || strchr(d.msgs[i], ':') == NULL) {
			fprintf(stderr, "fuzz_conf: a message without the file: %s\n", d.msgs[i]);
			abort();
		}
	gtm_diag_clear(&d);
	gtm_conf_free(c);
	return 0;
}
