/*
 * geo/: locating clients and ordering cities.  This header only gathers the
 * module headers:
 *
 *   geo/db.h         MMDB databases (libmaxminddb, mmap), field paths, lookups
 *   geo/map.h        region maps (CIDR, subdivision, country, continent rules)
 *                    and nearest-first ordering by great-circle distance
 *   geo/cache.h      a per-worker cache of orders keyed by location
 *   geo/continent.h  country → continent, for schemas without a continent
 *
 * geo/ depends on common/ and libmaxminddb only; it knows nothing of DNS.
 */
#pragma once

#include "geo/cache.h"
#include "geo/continent.h"
#include "geo/db.h"
#include "geo/map.h"
