/*
 * geo/: locating clients and ordering cities.  This header only gathers the
 * module headers:
 *
 *   geo/db.h         MMDB databases (libmaxminddb, mmap), field paths, lookups
 *   geo/map.h        region maps (CIDR, subdivision, country, continent rules)
 *                    and nearest-first ordering by great-circle distance
 *   geo/tree.h       the database and the map translated into a prefix
 *                    tree of regions: the query path
 *   geo/continent.h  country → continent, for schemas without a continent
 *
 * geo/ depends on common/ and libmaxminddb only; it knows nothing of DNS.
 */
#pragma once

#include "geo/continent.h"
#include "geo/db.h"
#include "geo/map.h"
#include "geo/tree.h"
