/* test_cpus.c - `--threads auto`: the CPUs of the affinity mask and of the cgroup quota (v2 and v1
 * trees built in a temporary folder), and the option table's "auto" for every --threads. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "spindle/cpus.h"
#include "spindle/opt.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char p[512], d[600];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	snprintf(d, sizeof d, "mkdir -p \"$(dirname '%s')\"", p);
	cr_assert_eq(system(d), 0);
	FILE *f = fopen(p, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

static void mkroot(void)
{
	strcpy(root, "/tmp/spindle-cpus.XXXXXX");
	cr_assert(mkdtemp(root));
}

static void rmroot(void)
{
	char c[128];
	snprintf(c, sizeof c, "rm -rf '%s'", root);
	cr_assert_eq(system(c), 0);
}

Test(cpus, affinity_mask_of_one_cpu_gives_one)
{
	cpu_set_t old, one;
	cr_assert_eq(sched_getaffinity(0, sizeof old, &old), 0);
	int first = 0;
	while (!CPU_ISSET(first, &old))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
	long n = sp_cpus_available();
	sched_setaffinity(0, sizeof old, &old);
	cr_assert_eq(n, 1);
	cr_assert_leq(sp_cpus_available(), CPU_COUNT(&old));
	cr_assert_geq(sp_cpus_available(), 1);
}

Test(cpus, cgroup_v2_quota_is_the_tightest_up_the_tree, .init = mkroot, .fini = rmroot)
{
	put("proc-cgroup", "0::/slurm/job_7/step_0\n");
	put("fs/cpu.max", "max 100000\n");
	put("fs/slurm/cpu.max", "800000 100000\n");
	put("fs/slurm/job_7/cpu.max", "250000 100000\n");   /* 2.5 CPUs: rounded up to 3 */
	put("fs/slurm/job_7/step_0/cpu.max", "max 100000\n");
	char pc[128], fs[128];
	snprintf(pc, sizeof pc, "%s/proc-cgroup", root);
	snprintf(fs, sizeof fs, "%s/fs", root);
	cr_assert_eq(sp_cpus_cgroup_limit(pc, fs), 3);
	put("fs/slurm/job_7/cpu.max", "max 100000\n");
	cr_assert_eq(sp_cpus_cgroup_limit(pc, fs), 8);
	put("fs/slurm/cpu.max", "max 100000\n");
	cr_assert_eq(sp_cpus_cgroup_limit(pc, fs), 0, "unlimited everywhere");
}

Test(cpus, cgroup_v1_cfs_quota, .init = mkroot, .fini = rmroot)
{
	put("proc-cgroup", "12:cpuset:/job\n11:cpu,cpuacct:/job\n1:name=systemd:/job\n");
	put("fs/cpu,cpuacct/job/cpu.cfs_quota_us", "200000\n");
	put("fs/cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
	char pc[128], fs[128];
	snprintf(pc, sizeof pc, "%s/proc-cgroup", root);
	snprintf(fs, sizeof fs, "%s/fs", root);
	cr_assert_eq(sp_cpus_cgroup_limit(pc, fs), 2);
	put("fs/cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n");
	cr_assert_eq(sp_cpus_cgroup_limit(pc, fs), 0);
	cr_assert_eq(sp_cpus_cgroup_limit("/nonexistent/cgroup", fs), 0);
}

Test(cpus, threads_auto_in_an_option_table)
{
	long threads = 1, other = 0;
	sp_opt t[] = {
		{ "threads", 'j', SP_OPT_INT, &threads, "N", "h", NULL, 1, 256 },
		{ "other", 0, SP_OPT_INT, &other, "N", "h", NULL, 0, 0 },
		{ NULL, 0, SP_OPT_END, NULL, NULL, NULL, NULL, 0, 0 }
	};
	char *argv[] = { "cmd", "--threads", "auto" };
	const char *pos[3];
	size_t n_pos;
	sp_err err = SP_ERR_INIT;
	cr_assert_eq(sp_opt_parse(t, 3, argv, pos, &n_pos, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(threads, sp_cpus_available());
	char *argv2[] = { "cmd", "-j", "auto" };
	threads = 0;
	cr_assert_eq(sp_opt_parse(t, 3, argv2, pos, &n_pos, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(threads, sp_cpus_available());
	char *argv3[] = { "cmd", "--other", "auto" };
	cr_assert_eq(sp_opt_parse(t, 3, argv3, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE, "auto is for --threads only");
	char *argv4[] = { "cmd", "--threads=autox" };
	cr_assert_eq(sp_opt_parse(t, 2, argv4, pos, &n_pos, NULL, NULL, &err), SP_EUSAGE);
}
