# The metrics module (gtm/metrics.c, gtm/prometheus.c) in gtm_core, with
# libevent_extra for evhttp (Prometheus) and evdns (carbon host names);
# gtmd's figures for it (stats.c, siteans.c: answers per site) and gtmd as a system service (daemon.c:
# sd_notify, privilege drop).
# Included from gtm/CMakeLists.txt after gtm_core is defined.
pkg_check_modules(LIBEVENT_EXTRA REQUIRED IMPORTED_TARGET libevent_extra)
target_sources(gtm_core PRIVATE metrics.c prometheus.c stats.c siteans.c daemon.c conf_metrics.c)
target_link_libraries(gtm_core PUBLIC PkgConfig::LIBEVENT PkgConfig::LIBEVENT_EXTRA m)
