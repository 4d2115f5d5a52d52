/*
 * The Prometheus side of the metrics module: rendering a sink in the text
 * exposition format (0.0.4) and serving it over HTTP with libevent's evhttp.
 * Internal to gtm/metrics/metrics.c; the naming rules are in gtm/metrics/metrics.h.
 *
 * Control thread only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gtm/metrics/metrics.h"

struct event_base;

/*
 * The sink's figures as Prometheus families: sorted by name, each with
 * "# HELP" and "# TYPE" once, its series sorted by labels; a series put
 * twice, or a figure whose kind differs from its family's, is left out.
 * Returns a string the caller frees (length in *len if not NULL).
 */
char *gtm_prom_render(const gtm_metrics_sink_t *s, size_t *len);

/* Prints a value as the module does everywhere: integers without a
 * fraction, other numbers with 15 significant digits.  snprintf's return. */
int gtm_metrics_fmt_value(char *buf, size_t len, double v);

/* Makes the body of a scrape (a string the HTTP side frees). */
typedef char *(*gtm_prom_scrape_cb_t)(void *arg, size_t *len);

typedef struct gtm_prom gtm_prom_t;

/*
 * Listens on `listen` ("127.0.0.1:9153", see gtm_metrics_listen_parse) and
 * answers GET /metrics with scrape()'s text; other paths get 404.  Returns
 * NULL, logged, when the address cannot be bound.
 */
gtm_prom_t *gtm_prom_new(struct event_base *base, const char *listen, gtm_prom_scrape_cb_t scrape,
                         void *arg);
void gtm_prom_free(gtm_prom_t *p);

/* The port actually bound. */
uint16_t gtm_prom_port(const gtm_prom_t *p);
