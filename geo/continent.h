/*
 * Continent of a country, for databases whose records carry no continent
 * (the "flat" ip-location-db schema).
 *
 * The table follows GeoNames, which MaxMind's continent/code also follows:
 * AF Africa, AN Antarctica, AS Asia, EU Europe, NA North America (Central
 * America and the Caribbean included), OC Oceania, SA South America.  As in
 * GeoNames: Russia (RU) and Cyprus (CY) are EU; Turkey (TR), Georgia (GE),
 * Armenia (AM) and Azerbaijan (AZ) are AS; Timor-Leste (TL) is OC; Kosovo's
 * user-assigned XK is EU.
 */
#pragma once

/*
 * Returns the static two-letter continent code of an upper-case ISO 3166-1
 * alpha-2 country code, or NULL when the code is unknown (or not two
 * letters).  No allocation; any thread.
 */
const char *geo_continent_of_country(const char *cc);
