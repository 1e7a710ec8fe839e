//go:build race

package sockhop_test

const raceEnabled = true
