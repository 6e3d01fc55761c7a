/* ppo_dist.c - the split of a PPO iteration's rollouts over ranks and the all-gather of what the
 * whole batch's statistics need (ppo_dist.h). */
#include <stdint.h>
#include "ppo_dist.h"

void ppo_dist_block(long n, long chunk, int rank, int world, long *lo, long *hi)
{
	long nc = chunk > 0 ? (n + chunk - 1) / chunk : 0, c0 = nc * rank / world, c1 = nc * (rank + 1) / world;
	*lo = c0 * chunk < n ? c0 * chunk : n;
	*hi = c1 * chunk < n ? c1 * chunk : n;
}

int ppo_dist_allgather(dist_comm *c, const void *p, size_t n, sp_buf *all, sp_err *err)
{
	static const char none;
	size_t at = all->len;
	SP_FORWARD(dist_comm_gather(c, n ? p : &none, n, all, err));
	if (!c || dist_comm_world(c) <= 1)
		return 0;
	uint64_t len = all->len - at;    /* rank 0's count of the gathered bytes */
	SP_FORWARD(dist_comm_bcast(c, &len, sizeof len, err));
	if (dist_comm_rank(c) != 0) {
		if (sp_buf_grow(all, (size_t)len) < 0)
			SP_RAISE(err, SP_ENOMEM, "out of memory");
		all->len = at + (size_t)len;
		all->p[all->len] = 0;
	}
	return len ? dist_comm_bcast(c, all->p + at, (size_t)len, err) : 0;
}
