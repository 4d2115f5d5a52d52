/*
 * Country → continent, from GeoNames' countryInfo (the source of MaxMind's
 * continent codes).  A sorted table searched by bisection: a query costs a
 * handful of two-byte comparisons and no initialisation is needed, so the
 * function is safe on any thread from the first call.
 */
#include <stddef.h>
#include <string.h>

#include "geo/continent.h"

/* "CCcc" pairs: country code then continent code, sorted by country. */
static const char table[][5] = {
	"ADEU", "AEAS", "AFAS", "AGNA", "AINA", "ALEU", "AMAS", "AOAF", "AQAN", "ARSA",
	"ASOC", "ATEU", "AUOC", "AWNA", "AXEU", "AZAS",
	"BAEU", "BBNA", "BDAS", "BEEU", "BFAF", "BGEU", "BHAS", "BIAF", "BJAF", "BLNA",
	"BMNA", "BNAS", "BOSA", "BQNA", "BRSA", "BSNA", "BTAS", "BVAN", "BWAF", "BYEU",
	"BZNA",
	"CANA", "CCAS", "CDAF", "CFAF", "CGAF", "CHEU", "CIAF", "CKOC", "CLSA", "CMAF",
	"CNAS", "COSA", "CRNA", "CUNA", "CVAF", "CWNA", "CXAS", "CYEU", "CZEU",
	"DEEU", "DJAF", "DKEU", "DMNA", "DONA", "DZAF",
	"ECSA", "EEEU", "EGAF", "EHAF", "ERAF", "ESEU", "ETAF",
	"FIEU", "FJOC", "FKSA", "FMOC", "FOEU", "FREU",
	"GAAF", "GBEU", "GDNA", "GEAS", "GFSA", "GGEU", "GHAF", "GIEU", "GLNA", "GMAF",
	"GNAF", "GPNA", "GQAF", "GREU", "GSAN", "GTNA", "GUOC", "GWAF", "GYSA",
	"HKAS", "HMAN", "HNNA", "HREU", "HTNA", "HUEU",
	"IDAS", "IEEU", "ILAS", "IMEU", "INAS", "IOAS", "IQAS", "IRAS", "ISEU", "ITEU",
	"JEEU", "JMNA", "JOAS", "JPAS",
	"KEAF", "KGAS", "KHAS", "KIOC", "KMAF", "KNNA", "KPAS", "KRAS", "KWAS", "KYNA",
	"KZAS",
	"LAAS", "LBAS", "LCNA", "LIEU", "LKAS", "LRAF", "LSAF", "LTEU", "LUEU", "LVEU",
	"LYAF",
	"MAAF", "MCEU", "MDEU", "MEEU", "MFNA", "MGAF", "MHOC", "MKEU", "MLAF", "MMAS",
	"MNAS", "MOAS", "MPOC", "MQNA", "MRAF", "MSNA", "MTEU", "MUAF", "MVAS", "MWAF",
	"MXNA", "MYAS", "MZAF",
	"NAAF", "NCOC", "NEAF", "NFOC", "NGAF", "NINA", "NLEU", "NOEU", "NPAS", "NROC",
	"NUOC", "NZOC",
	"OMAS",
	"PANA", "PESA", "PFOC", "PGOC", "PHAS", "PKAS", "PLEU", "PMNA", "PNOC", "PRNA",
	"PSAS", "PTEU", "PWOC", "PYSA",
	"QAAS",
	"REAF", "ROEU", "RSEU", "RUEU", "RWAF",
	"SAAS", "SBOC", "SCAF", "SDAF", "SEEU", "SGAS", "SHAF", "SIEU", "SJEU", "SKEU",
	"SLAF", "SMEU", "SNAF", "SOAF", "SRSA", "SSAF", "STAF", "SVNA", "SXNA", "SYAS",
	"SZAF",
	"TCNA", "TDAF", "TFAN", "TGAF", "THAS", "TJAS", "TKOC", "TLOC", "TMAS", "TNAF",
	"TOOC", "TRAS", "TTNA", "TVOC", "TWAS", "TZAF",
	"UAEU", "UGAF", "UMOC", "USNA", "UYSA", "UZAS",
	"VAEU", "VCNA", "VESA", "VGNA", "VINA", "VNAS", "VUOC",
	"WFOC", "WSOC",
	"XKEU",
	"YEAS", "YTAF",
	"ZAAF", "ZMAF", "ZWAF",
};

const char *geo_continent_of_country(const char *cc)
{
	/* Continent codes, so the answer is a NUL-terminated static string. */
	static const char *const names[] = { "AF", "AN", "AS", "EU", "NA", "OC", "SA" };

	if (cc == NULL || cc[0] == '\0' || cc[1] == '\0' || cc[2] != '\0')
		return NULL;
	size_t lo = 0, hi = sizeof(table) / sizeof(table[0]);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(table[mid], cc, 2);
		if (c == 0) {
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (memcmp(names[i], table[mid] + 2, 2) == 0)
					return names[i];
			return NULL;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
