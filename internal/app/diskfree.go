//go:build unix

package app

import "syscall"

// diskFree is how many bytes unprivileged writers may still use on the
// file system holding dir.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
