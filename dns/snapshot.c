/*
 * Snapshot publication with liburcu (memb flavour).
 *
 * The memb flavour makes rcu_read_lock() a thread-local counter update (the
 * membarrier syscall moves the cost to the writer), and unlike QSBR it lets a
 * worker block in epoll without going offline: libevent gives no hook around
 * its wait, so QSBR would stall synchronize_rcu() behind an idle worker.
 * Workers take the read lock once per batch of packets, not per query.
 */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include "common/alloc.h"
#include "dns/snapshot.h"

static dns_snapshot_t *current;

dns_snapshot_t *dns_snapshot_new(dns_zoneset_t *zones, dns_plan_t *plan, const dns_opts_t *opts)
{
	dns_snapshot_t *s = gtm_xcalloc(1, sizeof(*s));
	dns_zoneset_ref(zones);
	s->zones = zones;
	s->plan = plan;
	s->opts = *opts;
	return s;
}

void dns_snapshot_set_geo(dns_snapshot_t *s, geo_db_t *db, geo_map_t *map, geo_tree_t *tree)
{
	/* Ref before unref: setting the same handle again keeps it alive. */
	geo_db_ref(db);
	geo_map_ref(map);
	geo_tree_ref(tree);
	geo_db_unref(s->geo_db);
	geo_map_unref(s->geo_map);
	geo_tree_unref(s->geo_tree);
	s->geo_db = db;
	s->geo_map = map;
	s->geo_tree = tree;
}

void dns_snapshot_free(dns_snapshot_t *s)
{
	if (s == NULL)
		return;
	dns_zoneset_unref(s->zones);
	geo_db_unref(s->geo_db);
	geo_map_unref(s->geo_map);
	geo_tree_unref(s->geo_tree);
	dns_plan_free(s->plan);
	free(s);
}

void dns_snapshot_publish(dns_snapshot_t *s)
{
	/* Only the control thread writes `current`, so a plain read is safe. */
	dns_snapshot_t *old = current;
	s->generation = old ? old->generation + 1 : 1;
	rcu_xchg_pointer(&current, s);
	if (old != NULL) {
		urcu_memb_synchronize_rcu();
		dns_snapshot_free(old);
	}
}

void dns_snapshot_retire(void)
{
	dns_snapshot_t *old = rcu_xchg_pointer(&current, NULL);
	if (old != NULL) {
		urcu_memb_synchronize_rcu();
		dns_snapshot_free(old);
	}
}

void dns_snapshot_thread_register(void)
{
	urcu_memb_register_thread();
}

void dns_snapshot_thread_unregister(void)
{
	urcu_memb_unregister_thread();
}

void dns_snapshot_read_lock(void)
{
	urcu_memb_read_lock();
}

void dns_snapshot_read_unlock(void)
{
	urcu_memb_read_unlock();
}

const dns_snapshot_t *dns_snapshot_current(void)
{
	return rcu_dereference(current);
}
