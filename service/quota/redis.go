package quota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts read Redis's own clock (TIME), so every replica measures the
// window on one clock, and do all their reads and writes in one atomic step.
// Times are microseconds since the epoch: exact in a Lua number (a double)
// until the year 2255. Numbers are formatted with %.0f before they go back to
// Redis, because Lua 5.1's tostring keeps only 14 significant digits.

// reserveScript is the sliding-log reservation on the ZSET KEYS[1] (score =
// reserved send time, member unique), with the account's back-off in
// KEYS[2]. ARGV: N, window µs, member, maximum delay µs (-1: none), then
// pairs of member and offset µs from now of sends this replica made while it
// could not reach Redis, added first (NX: adding one twice changes nothing).
// It returns {1, delay} when a slot delay µs from now is reserved, or
// {0, delay} when the slot is further than the maximum delay and nothing is
// reserved.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
for i = 5, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'NX', string.format('%.0f', now + tonumber(ARGV[i + 1])), ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - w))
local slot = now
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
if b > slot then slot = b end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > slot then slot = tonumber(last[2]) end
if redis.call('ZCARD', KEYS[1]) >= n then
  local e = redis.call('ZRANGE', KEYS[1], -n, -n, 'WITHSCORES')
  local s = tonumber(e[2]) + w
  if s > slot then slot = s end
end
local maxd = tonumber(ARGV[4])
if slot > now and maxd >= 0 and slot - now > maxd then
  return {0, slot - now}
end
redis.call('ZADD', KEYS[1], string.format('%.0f', slot), ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(n + 1))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil((slot - now + w) / 1000) + 1))
return {1, slot - now}
`)

// backoffScript moves the back-off in KEYS[1] to now + ARGV[1] µs unless it
// already ends later.
var backoffScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local d = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < now + d then
  redis.call('SET', KEYS[1], string.format('%.0f', now + d), 'PX', string.format('%.0f', math.ceil(d / 1000) + 1))
end
return 0
`)

// backoffLeftScript returns the µs left of the back-off in KEYS[1], or 0.
var backoffLeftScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > now then return cur - now end
return 0
`)

// redisStore is the shared budget. Account ids never appear in keys: a key
// holds a hash of the id, so ids cannot collide with the key syntax, do not
// show in KEYS or MONITOR output, and both keys of an account share one
// cluster hash slot through the {…} tag.
type redisStore struct {
	client  *redis.Client
	prefix  string
	replica string // random, makes ZSET members unique across replicas
}

func (r *redisStore) keys(account string) (log, backoff string) {
	sum := sha256.Sum256([]byte(account))
	tag := r.prefix + "{" + hex.EncodeToString(sum[:16]) + "}"
	return tag + ":log", tag + ":backoff"
}

// reserve runs reserveScript; member must be unique. unshared are sends of
// this replica's fallback that Redis does not know, as of now.
func (r *redisStore) reserve(ctx context.Context, account string, rate Rate, member string, maxDelay time.Duration, now time.Time, unshared []time.Time) (delay time.Duration, ok bool, err error) {
	logKey, backoffKey := r.keys(account)
	md := int64(-1)
	if maxDelay >= 0 {
		md = maxDelay.Microseconds()
	}
	args := make([]any, 0, 4+2*len(unshared))
	args = append(args, rate.N, rate.Window().Microseconds(), member, md)
	for i, s := range unshared {
		// Named by the replica, the local time and its rank among equal
		// times (slots can be equal), so adding the same list again, as a
		// retry after a timeout does, adds nothing.
		rank := 0
		for j := i - 1; j >= 0 && unshared[j].Equal(s); j-- {
			rank++
		}
		name := r.replica + ":f:" + strconv.FormatInt(s.UnixMicro(), 36) + ":" + strconv.Itoa(rank)
		args = append(args, name, s.Sub(now).Microseconds())
	}
	res, err := reserveScript.Run(ctx, r.client, []string{logKey, backoffKey}, args...).Int64Slice()
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("quota reserve script: unexpected reply of %d values", len(res))
	}
	return time.Duration(res[1]) * time.Microsecond, res[0] == 1, nil
}

func (r *redisStore) backoff(ctx context.Context, account string, d time.Duration) error {
	_, backoffKey := r.keys(account)
	return backoffScript.Run(ctx, r.client, []string{backoffKey}, d.Microseconds()).Err()
}

func (r *redisStore) backoffLeft(ctx context.Context, account string) (time.Duration, error) {
	_, backoffKey := r.keys(account)
	us, err := backoffLeftScript.Run(ctx, r.client, []string{backoffKey}).Int64()
	return time.Duration(us) * time.Microsecond, err
}

func (r *redisStore) member(seq uint64) string {
	return r.replica + ":" + strconv.FormatUint(seq, 36)
}
