/*
 * Lab negative self-test: a test program that crashes. The lab must report it
 * as FAIL (killed by signal 11) with the program's last output in the log;
 * the ctest test lab/selftest/neg/segv checks exactly that.
 */
#include <stdint.h>
#include <stdio.h>

int main(void)
{
	/* volatile: the compiler must not see (and drop or warn about) a constant NULL store. */
	volatile uintptr_t address = 0;
	printf("lab_segv: about to write through a NULL pointer\n");
	fflush(stdout);
	*(volatile int *)address = 1;
	printf("lab_segv: still alive, which is wrong\n");
	return 0;
}
