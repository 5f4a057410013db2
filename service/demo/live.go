package demo

import (
	"encoding/json"
	"strconv"
	"time"
)

// The live conversation: a chat that changes every LiveStep and closes
// LiveClosesAfter into each LiveCycle, counted from the handler's creation
// (the demo server's start). Within a cycle, every LiveStep brings one
// change, and updatedAt and "__v" advance with it:
//
//	 0s OPEN, waiting in the queue      30s ACTIVE again, transferred to a second agent
//	 5s ACTIVE, an agent joins          35s the second agent joins
//	10s a note                          40s a note
//	15s the sentiment turns angry       45s the sentiment turns joyful
//	20s a note                          50s a note
//	25s IDLE, the customer is silent    55s dispositioned: resolved
//	                                    60s CLOSED, and unchanged until 90s
//
// At 90s the conversation starts again as OPEN with fresh times, so that a
// newcomer always finds it live within half a minute.
const (
	LiveConversationID = "c-live-demo"
	LiveStep           = 5 * time.Second
	LiveClosesAfter    = 60 * time.Second
	LiveCycle          = 90 * time.Second
)

// The live conversation's agents.
const (
	liveAgent1 = "u-5f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0"
	liveAgent2 = "u-0a1b2c3d-4e5f-5a6b-8c7d-e8f9a0b1c2d3"
	liveQueue  = "qu-241a4d7-e5d0-45a9-8032-8238450501c2"
)

var liveNotes = []string{
	"Customer asks for a refund of order 1042.",
	"Order found; it shipped damaged.",
	"Second-level agent approves the refund.",
	"Refund issued; customer confirmed by chat.",
}

// liveAt returns the live conversation as it stands elapsed after the
// demo's start.
func liveAt(start time.Time, elapsed time.Duration) record {
	if elapsed < 0 {
		elapsed = 0
	}
	cycleStart := start.Add(elapsed - elapsed%LiveCycle)
	step := int(elapsed % LiveCycle / LiveStep)
	step = min(step, int(LiveClosesAfter/LiveStep))
	at := func(s int) string { return stamp(cycleStart.Add(time.Duration(s) * LiveStep)) }

	doc := template(1, cycleStart)
	doc["_id"] = LiveConversationID
	doc["botId"] = StreamID
	doc["accountId"] = sampleAccountID
	doc["source"] = "rtm"
	doc["language"] = "en"
	doc["priority"] = json.Number("5")
	doc["updatedAt"] = at(step)
	doc["__v"] = json.Number(strconv.Itoa(step))
	delete(doc, "endTime")
	delete(doc, "acceptedAt")
	delete(doc, "dispositions")

	status := "OPEN"
	participants := []any{}
	var transfers []any
	notes := []any{}
	tone := tones[3]
	agent := func(id, name string, from int) map[string]any {
		return map[string]any{
			"queueId": liveQueue, "queueStartTime": at(0), "queueName": "Default Queue",
			"agentId": id, "name": name, "status": "ACTIVE",
			"assignedAt": at(from), "startTimeStamp": at(from),
		}
	}
	note := func(n, s int) map[string]any {
		return map[string]any{
			"_id":            "646f0750d15e5a3db2ae" + strconv.Itoa(1000+n),
			"conversationId": LiveConversationID,
			"author":         map[string]any{"_id": "646f0750d15e5a3db2ae0001", "firstName": "John", "lastName": "Doe", "userId": liveAgent1},
			"note":           liveNotes[n],
			"timestamp":      at(s),
		}
	}
	if step >= 1 {
		status = "ACTIVE"
		participants = append(participants, agent(liveAgent1, "John Doe", 1))
		doc["acceptedAt"] = at(1)
	}
	for n, s := range []int{2, 4, 8, 10} {
		if step >= s {
			notes = append(notes, note(n, s))
		}
	}
	if step >= 3 {
		tone = tones[1]
	}
	if step == 5 {
		status = "IDLE"
	}
	if step >= 6 {
		first := participants[0].(map[string]any)
		first["status"] = "INACTIVE"
		first["isTransferred"] = true
		first["endTimeStamp"] = at(6)
		transfers = append(transfers, map[string]any{
			"fromQueue": liveQueue, "fromAgent": liveAgent1, "transferredType": "AGENT",
			"transferredTo": []any{map[string]any{"type": "AGENT", "id": liveAgent2, "name": "Jane Roe", "emailId": ""}},
			"transferredBy": liveAgent1, "priority": "HIGH", "transferredAt": at(6), "isManager": false,
		})
	}
	if step >= 7 {
		participants = append(participants, agent(liveAgent2, "Jane Roe", 7))
	}
	if step >= 9 {
		tone = tones[2]
	}
	if step >= 11 {
		doc["dispositions"] = map[string]any{
			"status": "RESOLVED", "remarks": liveNotes[3], "metaStatus": "AGENT_CLOSED",
			"dispositionSets": []any{map[string]any{"dispositionsSet": "resolution", "dispositionCodes": "Resolved"}},
		}
	}
	if step >= 12 {
		status = "CLOSED"
		doc["endTime"] = at(12)
		last := participants[len(participants)-1].(map[string]any)
		last["status"] = "INACTIVE"
		last["endTimeStamp"] = at(12)
	}
	if transfers == nil {
		transfers = []any{}
	}
	doc["status"] = status
	doc["participants"] = participants
	doc["transferDetails"] = transfers
	doc["notes"] = notes
	doc["sentimentTone"] = tone
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return record{id: LiveConversationID, doc: doc, body: body, start: cycleStart}
}
