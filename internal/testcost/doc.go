// Package testcost measures what a piece of code costs — CPU time and bytes allocated — for
// tests that bound what a hostile input may cost. CPU time, not wall time: on a machine shared
// with other work a wall-clock bound fails for reasons that have nothing to do with the code,
// while a blow-up (an alias bomb, a quadratic check) still shows in seconds of CPU.
package testcost
