/* tmp_shim.c - TEMPORARY stand-ins for the shard reader (branch `pack`) so `spindle train` links
 * before it is merged into main. Every call fails with a clear message. DELETE THIS FILE when
 * merging main with pack. */
#include "spindle/shards.h"

int sp_shards_open(sp_shards **out, const char *dir, unsigned prefetch, sp_err *err)
{
	(void)out; (void)prefetch;
	SP_RAISE(err, SP_EUSAGE, "%s: the shard reader is not in this build yet (stub until pack is merged)", dir);
}
void sp_shards_info_get(const sp_shards *s, sp_shards_info *info) { (void)s; (void)info; }
int sp_shards_seek(sp_shards *s, const sp_shards_cursor *c, sp_err *err) { (void)s; (void)c; SP_RAISE(err, SP_EUSAGE, "stub"); }
int sp_shards_next(sp_shards *s, sp_seq *q, sp_err *err) { (void)s; (void)q; SP_RAISE(err, SP_EUSAGE, "stub"); }
void sp_shards_tell(const sp_shards *s, sp_shards_cursor *c) { (void)s; (void)c; }
void sp_seq_release(sp_seq *q) { (void)q; }
void sp_shards_close(sp_shards *s) { (void)s; }
