#!/usr/bin/perl
# Writes a small GeoIP2-City-shaped database for test_geo.sh's reload cases:
# the same IPv4 Beijing network as the fixture (198.18.0.0/16, see
# tests/geo/README.md), but located in Frankfurt; and Shanghai's
# (198.19.0.0/16) in Tokyo.  A database "replaced on disk" must change
# answers, and only a different file can show that.
#
#   gen-moved-mmdb.pl OUTFILE
use strict;
use warnings;

use MaxMind::DB::Writer::Tree;

my $out = shift @ARGV or die "usage: gen-moved-mmdb.pl OUTFILE\n";
my %types = (
	continent => 'map', country => 'map', location => 'map', subdivisions => [ 'array', 'map' ],
	code => 'utf8_string', iso_code => 'utf8_string', latitude => 'double', longitude => 'double',
);
my $t = MaxMind::DB::Writer::Tree->new(
	ip_version => 6, record_size => 28, database_type => 'GeoIP2-City', languages => ['en'],
	description => { en => 'gtm integration test: moved networks; not real data' },
	map_key_type_callback => sub { $types{ $_[0] } // die "no type for $_[0]\n" },
	remove_reserved_networks => 0, alias_ipv6_to_ipv4 => 1, _build_epoch => 1700000001,
);
$t->insert_network('::198.18.0.0/112', { continent => { code => 'EU' }, country => { iso_code => 'DE' },
	subdivisions => [ { iso_code => 'HE' } ], location => { latitude => 50.1109, longitude => 8.6821 } });
$t->insert_network('::198.19.0.0/112', { continent => { code => 'AS' }, country => { iso_code => 'JP' },
	subdivisions => [ { iso_code => '13' } ], location => { latitude => 35.6762, longitude => 139.6503 } });
open my $fh, '>:raw', "$out.tmp" or die "$out.tmp: $!\n";
$t->write_tree($fh);
close $fh or die "$out.tmp: $!\n";
rename "$out.tmp", $out or die "rename $out: $!\n";
