package quota_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
)

func ExampleParseRate() {
	r, err := quota.ParseRate("60/1m")
	fmt.Println(r.N, r.Per, r.Window(), err)
	_, err = quota.ParseRate("60 per minute")
	fmt.Println(err)
	// Output:
	// 60 1m0s 1m1.2s <nil>
	// quota rate "60 per minute": want N/DURATION such as 60/1m, or 0 to disable
}

// A caller whose deadline comes before the account's next free slot is
// refused at once, with the delay to put in google.rpc.RetryInfo.
func ExampleGuard_Acquire() {
	g, err := quota.New(quota.Config{Rate: quota.Rate{N: 2, Per: time.Minute}}) // no Redis: this process only
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		err := g.Acquire(ctx, "account-1")
		var ex *quota.ExhaustedError
		if errors.As(err, &ex) {
			fmt.Println("refused; retry in about", ex.RetryDelay().Round(time.Second))
			continue
		}
		fmt.Println("send", err)
	}
	// Output:
	// send <nil>
	// send <nil>
	// refused; retry in about 1m1s
}
