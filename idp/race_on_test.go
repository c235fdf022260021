//go:build race

package idp_test

// raceEnabled: the race detector slows every step several times over, unevenly, so timing
// comparisons are not meaningful under it.
const raceEnabled = true
