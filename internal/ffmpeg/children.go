package ffmpeg

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Children returns the IDs of the ffmpeg processes this process started
// that still exist, zombies included (started and not reaped). It reads
// /proc, so it finds none where there is no /proc. Tests use it to show
// that no ffmpeg outlives its use.
func Children() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces.
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || s[open+1:closing] != "ffmpeg" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == me {
			pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
			pids = append(pids, pid)
		}
	}
	return pids
}
