#!/usr/bin/perl
# Converts the ip-location-db "flat" city files (separate IPv4 and IPv6 MMDBs:
# country_code, state1, city, latitude, longitude, ... as tests/geo/
# fetch-real-db.sh downloads them) into one GeoIP2-City-shaped MMDB, for
# servers that read only MaxMind's schema (gdnsd's geoip plugin) and for the
# geo benchmark (tests/bench/geo-bench.sh), where gtmd and gdnsd must load the
# same file.  Not used by the tests.
#
#   flat-to-geoip2.pl [--fraction F] [--seed N] [--networks FILE] [--networks-max N]
#                     V4.mmdb V6.mmdb OUT.mmdb
#
# The output has database_type "GeoLite2-City", ip_version 6 and record size
# 28; IPv4 networks sit in ::/96 and are aliased from ::ffff:0:0/96 (and the
# writer's other IPv4 aliases, 2001::/32 and 2002::/16), as MaxMind ships
# them.  Each record holds what a distance-steering server reads:
#
#   location/latitude, location/longitude   (doubles, from the flat 32-bit floats)
#   country/iso_code                        (from country_code)
#   continent/code                          (derived from the country, with the
#                                            table of geo/continent.c)
#   city/names/en                           (when the flat record has a city)
#
# Subdivisions are left out: the flat files hold subdivision names, not the
# ISO 3166-2 codes of the GeoIP2 schema.  A flat record without coordinates
# becomes a record with country and continent only.
#
# --fraction F   keep each network with probability F (0 < F <= 1, default 1:
#                every network), for a quicker, smaller file; --seed makes the
#                draw reproducible (default 1).
# --networks FILE  also write up to --networks-max (default 100000) of the
#                networks written, drawn uniformly (reservoir sampling), one a
#                line: "network<TAB>country<TAB>latitude<TAB>longitude", for
#                query generators.
#
# Networks of the IPv6 file that lie in the IPv4 alias ranges (::ffff:0:0/96,
# 2001::/32, 2002::/16) or in ::/96 are skipped (the IPv4 file is the truth
# there); the count is reported.  Uses MaxMind::DB::Reader (Debian:
# libmaxmind-db-reader-perl, with libmaxmind-db-reader-xs-perl for speed) and
# MaxMind::DB::Writer::Tree (libmaxmind-db-writer-perl).  Takes about a
# minute and a few GB of memory for the whole GeoLite2 City data.
use strict;
use warnings;
use utf8;

use File::Basename qw(dirname);
use Getopt::Long qw(GetOptions);
use MaxMind::DB::Reader;
use MaxMind::DB::Writer::Tree;
use Math::Int128 ();
use Socket qw(AF_INET6 inet_ntop);

my $fraction = 1;
my $seed = 1;
my $netfile;
my $netmax = 100000;
GetOptions(
	'fraction=f' => \$fraction,
	'seed=i' => \$seed,
	'networks=s' => \$netfile,
	'networks-max=i' => \$netmax,
) or die usage();
@ARGV == 3 or die usage();
my ($v4file, $v6file, $out) = @ARGV;
$fraction > 0 && $fraction <= 1 or die "flat-to-geoip2: --fraction must be in (0, 1]\n";
srand($seed);

sub usage {
	return "usage: flat-to-geoip2.pl [--fraction F] [--seed N] [--networks FILE] [--networks-max N] V4.mmdb V6.mmdb OUT.mmdb\n";
}

# Country -> continent, read from geo/continent.c so that there is one table.
my %continent;
{
	my $src = dirname(__FILE__) . '/../../geo/continent.c';
	open my $fh, '<', $src or die "flat-to-geoip2: $src: $!\n";
	local $/;
	my $text = <$fh>;
	while ($text =~ /"([A-Z]{2})([A-Z]{2})"/g) {
		$continent{$1} = $2;
	}
	keys %continent > 200 or die "flat-to-geoip2: could not read the country table from $src\n";
}
my %continent_name = (
	AF => 'Africa', AN => 'Antarctica', AS => 'Asia', EU => 'Europe',
	NA => 'North America', OC => 'Oceania', SA => 'South America',
);

my %types = (
	city => 'map', continent => 'map', country => 'map', location => 'map',
	names => 'map', en => 'utf8_string', code => 'utf8_string',
	iso_code => 'utf8_string', latitude => 'double', longitude => 'double',
);

my $tree = MaxMind::DB::Writer::Tree->new(
	ip_version => 6,
	record_size => 28,
	database_type => 'GeoLite2-City',
	languages => ['en'],
	description => { en => 'GeoLite2 City data (MaxMind, CC BY-SA 4.0) converted from ip-location-db flat files by gtm tests/geo/flat-to-geoip2.pl' },
	map_key_type_callback => sub { $types{ $_[0] } // die "flat-to-geoip2: no type for key $_[0]\n" },
	remove_reserved_networks => 0,
	alias_ipv6_to_ipv4 => 1,
);

# One record (and one hash) per distinct location, so that the writer's data
# section stays small and we do not build millions of hashes.
my %records;
sub record_for {
	my ($d) = @_;
	my $cc = $d->{country_code} // '';
	my $lat = $d->{latitude};
	my $lon = $d->{longitude};
	my $city = $d->{city} // '';
	my $key = join "\0", $cc, $lat // '', $lon // '', $city;
	return $records{$key} //= do {
		my %r;
		if ($cc ne '') {
			$r{country} = { iso_code => $cc };
			my $cont = $continent{$cc};
			$r{continent} = { code => $cont, names => { en => $continent_name{$cont} } } if $cont;
		}
		if (defined $lat && defined $lon) {
			# The flat files store 32-bit floats: keep 6 decimals (about
			# 0.1 m), not the float's binary noise.
			$r{location} = { latitude => 0 + sprintf('%.6f', $lat), longitude => 0 + sprintf('%.6f', $lon) };
		}
		$r{city} = { names => { en => $city } } if $city ne '';
		\%r;
	};
}

my ($seen, $kept, $skipped, $netn) = (0, 0, 0, 0);
my @sample;
my $netfh;
if (defined $netfile) {
	open $netfh, '>:encoding(UTF-8)', $netfile or die "flat-to-geoip2: $netfile: $!\n";
}

sub keep_network { # network as inserted, as listed, record
	my ($net, $shown, $rec) = @_;
	$tree->insert_network($net, $rec);
	$kept++;
	return unless $netfh;
	my $loc = $rec->{location};
	my $line = join("\t", $shown, $rec->{country}{iso_code} // '', $loc ? ($loc->{latitude}, $loc->{longitude}) : ('', '')) . "\n";
	$netn++;
	if (@sample < $netmax) {
		push @sample, $line;
	} else {
		my $j = int(rand($netn));
		$sample[$j] = $line if $j < $netmax;
	}
}

my $t0 = time;
{
	my $r = MaxMind::DB::Reader->new(file => $v4file);
	$r->metadata->ip_version == 4 or die "flat-to-geoip2: $v4file is not an IPv4 database\n";
	$r->iterate_search_tree(sub {
		my ($ip, $len, $d) = @_;
		$seen++;
		return if $fraction < 1 && rand() >= $fraction;
		my $a = join '.', unpack 'C4', pack 'N', $ip;
		keep_network("::$a/" . (96 + $len), "$a/$len", record_for($d));
	});
}
my $v4kept = $kept;
printf STDERR "flat-to-geoip2: IPv4: %d networks read, %d kept (%ds)\n", $seen, $kept, time - $t0;
{
	my $r = MaxMind::DB::Reader->new(file => $v6file);
	$r->metadata->ip_version == 6 or die "flat-to-geoip2: $v6file is not an IPv6 database\n";
	my $seen6 = 0;
	$r->iterate_search_tree(sub {
		my ($ip, $len, $d) = @_;
		$seen++;
		$seen6++;
		return if $fraction < 1 && rand() >= $fraction;
		my $hex = sprintf '%032s', ref $ip ? Math::Int128::uint128_to_hex($ip) : sprintf('%x', $ip);
		$hex =~ s/^0x//;
		$hex = substr('0' x 32 . $hex, -32);
		my $bin = pack 'H32', $hex;
		# ::/96, ::ffff:0:0/96, 2001::/32 (Teredo), 2002::/16 (6to4): IPv4 space.
		if ((substr($bin, 0, 12) eq "\0" x 12 && $len >= 96)
			|| (substr($bin, 0, 12) eq "\0" x 10 . "\xff\xff" && $len >= 96)
			|| (substr($bin, 0, 4) eq "\x20\x01\0\0" && $len >= 32)
			|| (substr($bin, 0, 2) eq "\x20\x02" && $len >= 16)) {
			$skipped++;
			return;
		}
		my $net = inet_ntop(AF_INET6, $bin) . "/$len";
		keep_network($net, $net, record_for($d));
	});
	printf STDERR "flat-to-geoip2: IPv6: %d networks read, %d kept, %d skipped in IPv4 alias space (%ds)\n",
		$seen6, $kept - $v4kept, $skipped, time - $t0;
}

my $tmp = "$out.tmp.$$";
open my $fh, '>:raw', $tmp or die "flat-to-geoip2: $tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "flat-to-geoip2: $tmp: $!\n";
rename $tmp, $out or die "flat-to-geoip2: rename $tmp: $!\n";
printf STDERR "flat-to-geoip2: wrote %s: %d networks, %d distinct records (%ds)\n",
	$out, $kept, scalar(keys %records), time - $t0;

if ($netfh) {
	print $netfh @sample;
	close $netfh or die "flat-to-geoip2: $netfile: $!\n";
}
