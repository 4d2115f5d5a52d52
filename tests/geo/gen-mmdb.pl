#!/usr/bin/perl
# Writes the GeoIP test fixtures (no binary fixtures live in git):
#
#   gen-mmdb.pl OUTDIR
#
#   OUTDIR/geoip2-city.mmdb     GeoIP2-City schema, ip_version 6, IPv4 networks
#                               in ::/96 and aliased from ::ffff:0:0/96 (as
#                               MaxMind ships them)
#   OUTDIR/flat-city-ipv4.mmdb  ip-location-db "geolite2-city" flat schema, IPv4
#   OUTDIR/flat-city-ipv6.mmdb  the same, IPv6 only
#   OUTDIR/networks.tsv         the table below, one network a line, for scripts
#
# The networks are documented in tests/geo/README.md; keep the two in step.
# Uses MaxMind::DB::Writer::Tree (Debian: libmaxmind-db-writer-perl).  The
# build epoch is fixed so that the output is reproducible.
use strict;
use warnings;
use utf8;

use MaxMind::DB::Writer::Tree;

my $outdir = shift @ARGV or die "usage: gen-mmdb.pl OUTDIR\n";
-d $outdir or mkdir $outdir or die "gen-mmdb: mkdir $outdir: $!\n";

# name, country, continent, subdivision ISO code, subdivision name (flat
# "state1"), latitude, longitude, IPv4 network, IPv6 network, time zone.
# The prefixes come from ranges that are never routed on the Internet
# (RFC 2544 benchmarking 198.18.0.0/15, RFC 6598 shared 100.64.0.0/10, the
# RFC 5737 TEST-NETs, RFC 3849 2001:db8::/32 and RFC 9637 3fff::/20), with
# differing lengths so that ECS scope tests can tell them apart.
my @cities = (
	[ 'Beijing',   'CN', 'AS', 'BJ', 'Beijing',   39.9042,  116.4074, '198.18.0.0/16',   '3fff:100::/32',    'Asia/Shanghai' ],
	[ 'Shanghai',  'CN', 'AS', 'SH', 'Shanghai',  31.2304,  121.4737, '198.19.0.0/16',   '3fff:200::/32',    'Asia/Shanghai' ],
	[ 'Shenzhen',  'CN', 'AS', 'GD', 'Guangdong', 22.5431,  114.0579, '100.64.0.0/20',   '2001:db8:100::/48', 'Asia/Shanghai' ],
	[ 'Guangzhou', 'CN', 'AS', 'GD', 'Guangdong', 23.1291,  113.2644, '100.64.16.0/20',  '2001:db8:200::/48', 'Asia/Shanghai' ],
	[ 'Hangzhou',  'CN', 'AS', 'ZJ', 'Zhejiang',  30.2741,  120.1551, '100.65.0.0/24',   '2001:db8:300::/48', 'Asia/Shanghai' ],
	[ 'Frankfurt', 'DE', 'EU', 'HE', 'Hesse',     50.1109,    8.6821, '192.0.2.0/24',    '3fff:300::/32',    'Europe/Berlin' ],
	[ 'Ashburn',   'US', 'NA', 'VA', 'Virginia',  39.0438,  -77.4874, '198.51.100.0/24', '3fff:400::/32',    'America/New_York' ],
	[ 'Tokyo',     'JP', 'AS', '13', 'Tokyo',     35.6762,  139.6503, '203.0.113.0/24',  '2001:db8:400::/48', 'Asia/Tokyo' ],
	[ 'Singapore', 'SG', 'AS', '01', 'Central Singapore', 1.3521, 103.8198, '100.66.0.0/16', '3fff:500::/32', 'Asia/Singapore' ],
	[ 'São Paulo', 'BR', 'SA', 'SP', 'São Paulo', -23.5505, -46.6333, '100.67.0.0/22',   '2001:db8:500::/56', 'America/Sao_Paulo' ],
);

# A record with a country but no location, city or subdivision (MaxMind has
# such records for addresses only known to be "somewhere in Germany").
my @country_only = ( [ 'DE', 'EU', '100.68.0.0/16', '3fff:600::/32' ] );

my %geonames = (
	'AS' => [ 6255147, 'Asia' ], 'EU' => [ 6255148, 'Europe' ],
	'NA' => [ 6255149, 'North America' ], 'SA' => [ 6255150, 'South America' ],
	'CN' => [ 1814991, 'China' ], 'DE' => [ 2921044, 'Germany' ],
	'US' => [ 6252001, 'United States' ], 'JP' => [ 1861060, 'Japan' ],
	'SG' => [ 1880251, 'Singapore' ], 'BR' => [ 3469034, 'Brazil' ],
);

my %geoip2_types = (
	city => 'map', continent => 'map', country => 'map', registered_country => 'map',
	location => 'map', subdivisions => [ 'array', 'map' ], names => 'map',
	en => 'utf8_string', code => 'utf8_string', iso_code => 'utf8_string',
	geoname_id => 'uint32', latitude => 'double', longitude => 'double',
	accuracy_radius => 'uint16', time_zone => 'utf8_string',
);
# ip-location-db stores coordinates as 32-bit floats; so do we.
my %flat_types = (
	country_code => 'utf8_string', state1 => 'utf8_string', state2 => 'utf8_string',
	city => 'utf8_string', postcode => 'utf8_string', latitude => 'float',
	longitude => 'float', timezone => 'utf8_string',
);

sub country_map {
	my ($cc) = @_;
	return { iso_code => $cc, geoname_id => $geonames{$cc}[0], names => { en => $geonames{$cc}[1] } };
}

sub geoip2_record {
	my ($c) = @_;
	my ($name, $cc, $cont, $sub, $subname, $lat, $lon, undef, undef, $tz) = @$c;
	return {
		city => { geoname_id => 1000000 + length($name), names => { en => $name } },
		continent => { code => $cont, geoname_id => $geonames{$cont}[0], names => { en => $geonames{$cont}[1] } },
		country => country_map($cc),
		registered_country => country_map($cc),
		location => { latitude => $lat, longitude => $lon, accuracy_radius => 20, time_zone => $tz },
		subdivisions => [ { iso_code => $sub, names => { en => $subname } } ],
	};
}

sub flat_record {
	my ($c) = @_;
	my ($name, $cc, undef, undef, $subname, $lat, $lon, undef, undef, $tz) = @$c;
	return { country_code => $cc, state1 => $subname, state2 => '', city => $name,
		postcode => '', latitude => $lat, longitude => $lon, timezone => $tz };
}

sub new_tree {
	my ($ipv, $type, $types, $alias) = @_;
	return MaxMind::DB::Writer::Tree->new(
		ip_version => $ipv,
		record_size => 28,
		database_type => $type,
		languages => ['en'],
		description => { en => 'gtm test fixture (tests/geo/gen-mmdb.pl); not real data' },
		map_key_type_callback => sub { $types->{ $_[0] } // die "gen-mmdb: no type for key $_[0]\n" },
		remove_reserved_networks => 0,
		alias_ipv6_to_ipv4 => $alias,
		_build_epoch => 1700000000,
	);
}

sub write_tree {
	my ($tree, $file) = @_;
	my $tmp = "$outdir/.$file.tmp";
	open my $fh, '>:raw', $tmp or die "gen-mmdb: $tmp: $!\n";
	$tree->write_tree($fh);
	close $fh or die "gen-mmdb: $tmp: $!\n";
	rename $tmp, "$outdir/$file" or die "gen-mmdb: rename $tmp: $!\n";
}

# (a) GeoIP2-City shape, one IPv6 tree holding IPv4 too.
my $g = new_tree(6, 'GeoIP2-City', \%geoip2_types, 1);
for my $c (@cities) {
	my $rec = geoip2_record($c);
	$g->insert_network("::$1/" . (96 + $2), $rec) if $c->[7] =~ m{^(.+)/(\d+)$};
	$g->insert_network($c->[8], $rec);
}
for my $c (@country_only) {
	my ($cc, $cont, $v4, $v6) = @$c;
	my $rec = { continent => { code => $cont, geoname_id => $geonames{$cont}[0], names => { en => $geonames{$cont}[1] } },
		country => country_map($cc), registered_country => country_map($cc) };
	$g->insert_network("::$1/" . (96 + $2), $rec) if $v4 =~ m{^(.+)/(\d+)$};
	$g->insert_network($v6, $rec);
}
write_tree($g, 'geoip2-city.mmdb');

# (b) flat schema, separate IPv4 and IPv6 files as ip-location-db ships them.
my $f4 = new_tree(4, 'city ipv4', \%flat_types, 0);
my $f6 = new_tree(6, 'city ipv6', \%flat_types, 0);
for my $c (@cities) {
	$f4->insert_network($c->[7], flat_record($c));
	$f6->insert_network($c->[8], flat_record($c));
}
for my $c (@country_only) {
	my ($cc, undef, $v4, $v6) = @$c;
	my $rec = { country_code => $cc, state1 => '', state2 => '', city => '', postcode => '', timezone => '' };
	$f4->insert_network($v4, $rec);
	$f6->insert_network($v6, $rec);
}
write_tree($f4, 'flat-city-ipv4.mmdb');
write_tree($f6, 'flat-city-ipv6.mmdb');

open my $tsv, '>:encoding(UTF-8)', "$outdir/networks.tsv" or die "gen-mmdb: networks.tsv: $!\n";
print $tsv "# city\tcountry\tcontinent\tsubdivision\tstate1\tlatitude\tlongitude\tipv4\tipv6\n";
for my $c (@cities) {
	print $tsv join("\t", @$c[0 .. 8]), "\n";
}
for my $c (@country_only) {
	print $tsv join("\t", '-', $c->[0], $c->[1], '', '', '', '', $c->[2], $c->[3]), "\n";
}
close $tsv;
