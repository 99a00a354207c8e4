//go:build !amd64

package quantum

// cpuidCaches reports no sizes off amd64.
func cpuidCaches() (l1, l2 int) { return 0, 0 }
