// Command grpcbody writes the body of one gRPC GetConversation call — the
// 5-byte message prefix (flag 0 = uncompressed, 4-byte big-endian length)
// and the protobuf GetConversationRequest — so that h2load can POST it.
//
// Usage:
//
//	grpcbody [--stream-id ID] [--conversation-id ID] [--account-id ID] --out FILE
package main

import (
	"encoding/binary"
	"flag"
	"log"
	"os"

	"google.golang.org/protobuf/proto"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

func main() {
	var (
		streamID  = flag.String("stream-id", "st-3bf09bef-f979-5489-b337-f465bd5db1f4", "request stream_id")
		convID    = flag.String("conversation-id", "c-3c04346-e522-4c53-9e03-c9566d859aad", "request conversation_id")
		accountID = flag.String("account-id", "", "request account_id (empty: the server's default)")
		out       = flag.String("out", "", "file to write")
	)
	flag.Parse()
	if *out == "" {
		log.Fatal("grpcbody: --out is required")
	}
	msg, err := proto.Marshal(&smartassistv1.GetConversationRequest{
		StreamId:       *streamID,
		ConversationId: *convID,
		AccountId:      *accountID,
	})
	if err != nil {
		log.Fatalf("grpcbody: marshal request: %v", err)
	}
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	if err := os.WriteFile(*out, append(frame, msg...), 0o644); err != nil {
		log.Fatalf("grpcbody: %v", err)
	}
}
