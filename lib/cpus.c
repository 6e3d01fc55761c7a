/* cpus.c - how many CPUs this process may run on, for `--threads auto`: the affinity mask (taskset,
 * Slurm's --cpus-per-task with task/affinity or cgroups) and the CPU quota of its cgroup (cgroup v2
 * cpu.max up the hierarchy, or v1's cfs_quota_us / cfs_period_us), whichever is smaller; at least 1. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "spindle/cpus.h"

/* quota / period of one cgroup file, rounded up; 0 when unlimited or unreadable */
static long quota_v2(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char q[32] = "";
	long period = 0;
	int n = fscanf(f, "%31s %ld", q, &period);
	fclose(f);
	if (n != 2 || !strcmp(q, "max") || period <= 0)
		return 0;
	long quota = strtol(q, NULL, 10);
	return quota > 0 ? (quota + period - 1) / period : 0;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

long sp_cpus_cgroup_limit(const char *proc_cgroup, const char *root)
{
	FILE *f = fopen(proc_cgroup, "r");
	if (!f)
		return 0;
	char line[4096], path[4608];
	long best = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		const char *ctrl = c1 + 1, *rel = c2 + 1;
		if (c2 == c1 + 1) {
			/* v2: walk from the process's cgroup up to the root; the tightest cpu.max wins */
			char dir[4096];
			snprintf(dir, sizeof dir, "%s", rel);
			for (;;) {
				snprintf(path, sizeof path, "%s%s/cpu.max", root, strcmp(dir, "/") ? dir : "");
				long l = quota_v2(path);
				if (l > 0 && (best == 0 || l < best))
					best = l;
				char *slash = strrchr(dir, '/');
				if (!slash || slash == dir)
					break;
				*slash = 0;
			}
			snprintf(path, sizeof path, "%s/cpu.max", root);
			long l = quota_v2(path);
			if (l > 0 && (best == 0 || l < best))
				best = l;
		} else if (strstr(ctrl, "cpu") && !strstr(ctrl, "cpuset")) {
			/* v1: the cpu controller's folder (mounted as cpu,cpuacct or cpu) */
			static const char *const mounts[] = { "cpu,cpuacct", "cpu", "cpuacct,cpu" };
			for (size_t m = 0; m < 3; m++) {
				snprintf(path, sizeof path, "%s/%s%s/cpu.cfs_quota_us", root, mounts[m], rel);
				long quota = read_long(path);
				snprintf(path, sizeof path, "%s/%s%s/cpu.cfs_period_us", root, mounts[m], rel);
				long period = read_long(path);
				if (quota > 0 && period > 0) {
					long l = (quota + period - 1) / period;
					if (best == 0 || l < best)
						best = l;
					break;
				}
			}
		}
	}
	fclose(f);
	return best;
}

long sp_cpus_available(void)
{
	long n = 0;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	long q = sp_cpus_cgroup_limit("/proc/self/cgroup", "/sys/fs/cgroup");
	if (q > 0 && q < n)
		n = q;
	return n > 0 ? n : 1;
}
