/*
 * unit.h - the C unit-test groups run by run-unit (tests/unit/unit_main.c).
 *
 * Each group is a function that runs its tests with
 * cmocka_run_group_tests_name() and returns the number of failed tests.
 * To add a group: declare it here and add one line to the table in
 * unit_main.c.
 */
#ifndef PYSPY_TEST_UNIT_H
#define PYSPY_TEST_UNIT_H

int unit_linetable(void);
int unit_pystr(void);
int unit_profile(void);
int unit_folded(void);
int unit_debug_offsets(void);
int unit_layout_dwarf(void);
int unit_output_formats(void);
int unit_native_merge(void);
int unit_top(void);
int unit_plt(void);
int unit_subinterp_merge(void);
int unit_timearg(void);
int unit_pace(void);
int unit_store_plan(void);
int unit_store_sqlite(void);
int unit_store_postgres(void);
int unit_feed(void);
int unit_agents(void);
int unit_json(void);
int unit_collect_metrics(void);

#endif
