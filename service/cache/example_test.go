package cache_test

import (
	"context"
	"fmt"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/service/cache"
)

func ExampleCache_Get() {
	c, err := cache.New(cache.Config{}) // local only; set Redis to share across replicas
	if err != nil {
		panic(err)
	}
	defer c.Close()

	k := cache.Key{Credential: "app:cs-example", Account: "acct-1", Stream: "st-1", Conversation: "c-1"}
	fetch := func(ctx context.Context) (*smartassistv1.Conversation, error) {
		fmt.Println("calling SmartAssist")
		return &smartassistv1.Conversation{Id: "c-1", Status: "CLOSED"}, nil
	}
	for range 2 {
		e, err := c.Get(context.Background(), k, 0, fetch)
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Conversation.GetId(), e.Conversation.GetStatus())
	}
	// Output:
	// calling SmartAssist
	// c-1 CLOSED
	// c-1 CLOSED
}
