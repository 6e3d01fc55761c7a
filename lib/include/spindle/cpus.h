/* cpus.h - the CPUs this process may use: what `--threads auto` means in every tool. No state. */
#ifndef SPINDLE_CPUS_H
#define SPINDLE_CPUS_H

/* min(CPUs in the affinity mask, the cgroup's CPU quota rounded up), at least 1. */
long sp_cpus_available(void);
/* The CPU limit of the cgroups that proc_cgroup (a /proc/PID/cgroup file) names under root (the cgroup
 * mount, /sys/fs/cgroup): v2 cpu.max of the cgroup and its parents, or v1 cpu.cfs_quota_us /
 * cpu.cfs_period_us, rounded up; 0 when unlimited or unknown. (Separate so tests can give a tree.) */
long sp_cpus_cgroup_limit(const char *proc_cgroup, const char *root);

#endif
