package kafka_test

import (
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func traceGroups(c *kfake.Cluster) {
	f, _ := os.Create("/tmp/kfake_trace.log")
	logf := func(format string, a ...any) {
		fmt.Fprintf(f, time.Now().Format("15:04:05.000000")+" "+format+"\n", a...)
	}
	for _, k := range []int16{11, 12, 13, 14} {
		c.ControlKey(k, func(r kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			switch r := r.(type) {
			case *kmsg.JoinGroupRequest:
				logf("JOIN  g=%s m=%s v=%d st=%d rt=%d", r.Group, r.MemberID, r.Version, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis)
			case *kmsg.SyncGroupRequest:
				logf("SYNC  g=%s m=%s gen=%d n=%d", r.Group, r.MemberID, r.Generation, len(r.GroupAssignment))
			case *kmsg.HeartbeatRequest:
				logf("HB    g=%s m=%s gen=%d", r.Group, r.MemberID, r.Generation)
			case *kmsg.LeaveGroupRequest:
				logf("LEAVE g=%s m=%s", r.Group, r.MemberID)
			}
			return nil, nil, false
		})
	}
}
