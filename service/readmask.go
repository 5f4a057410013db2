package service

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// readMask is a validated AIP-157 read mask over Conversation: a tree of
// field names, where a leaf keeps the whole field.
type readMask struct {
	paths []string // normalized, sorted
	tree  maskTree
}

type maskTree map[protoreflect.Name]maskTree // nil value: keep the whole field

var conversationDescriptor = (&smartassistv1.Conversation{}).ProtoReflect().Descriptor()

// parseReadMask validates m. It returns nil (everything) for an empty mask
// or "*", and an error naming the first unknown path otherwise. Paths are
// proto field names ("user_info.country"); they may descend through the
// model's own messages, not into well-known types such as Timestamp.
func parseReadMask(m *fieldmaskpb.FieldMask) (*readMask, error) {
	paths := m.GetPaths()
	if len(paths) == 0 || (len(paths) == 1 && paths[0] == "*") {
		return nil, nil
	}
	if len(paths) > 200 {
		return nil, fmt.Errorf("at most 200 paths, got %d", len(paths))
	}
	tree := maskTree{}
	for _, path := range paths {
		if err := tree.add(conversationDescriptor, path); err != nil {
			return nil, err
		}
	}
	normalized := append([]string(nil), paths...)
	slices.Sort(normalized)
	return &readMask{paths: slices.Compact(normalized), tree: tree}, nil
}

// add puts one dotted path into the tree, checking each step against md.
func (t maskTree) add(md protoreflect.MessageDescriptor, path string) error {
	if path == "*" {
		return fmt.Errorf("%q: \"*\" must be the only path", path)
	}
	if len(path) > 256 {
		return fmt.Errorf("path of %d characters is too long", len(path))
	}
	node := t
	parts := strings.Split(path, ".")
	for i, part := range parts {
		fd := md.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			return fmt.Errorf("%q: %s has no field %q", path, md.Name(), part)
		}
		last := i == len(parts)-1
		if last {
			node[fd.Name()] = nil // keep the whole field, even if a deeper path asked for less
			return nil
		}
		if fd.Message() == nil || !ownMessage(fd.Message()) || fd.IsMap() {
			return fmt.Errorf("%q: %s.%s has no sub-fields to select", path, md.Name(), part)
		}
		child, seen := node[fd.Name()]
		if seen && child == nil {
			return nil // a shorter path already keeps all of it
		}
		if child == nil {
			child = maskTree{}
			node[fd.Name()] = child
		}
		node, md = child, fd.Message()
	}
	return nil
}

// ownMessage reports whether md is one of the model's messages, which a
// mask may descend into.
func ownMessage(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == conversationDescriptor.ParentFile().Package()
}

// apply returns a copy of conv with only the masked fields. conv itself is
// shared (it may come from the cache) and is never modified.
func (m *readMask) apply(conv *smartassistv1.Conversation) *smartassistv1.Conversation {
	if conv == nil {
		return nil
	}
	out := proto.Clone(conv).(*smartassistv1.Conversation)
	prune(out.ProtoReflect(), m.tree)
	return out
}

func prune(msg protoreflect.Message, tree maskTree) {
	// Collect first: a message must not be changed while Range walks it.
	var drop []protoreflect.FieldDescriptor
	msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		sub, keep := tree[fd.Name()]
		switch {
		case !keep:
			drop = append(drop, fd)
		case sub == nil:
		case fd.IsList():
			list := v.List()
			for i := range list.Len() {
				prune(list.Get(i).Message(), sub)
			}
		default:
			prune(v.Message(), sub)
		}
		return true
	})
	for _, fd := range drop {
		msg.Clear(fd)
	}
}

// etag derives the entity tag of a masked answer from the full answer's.
func (m *readMask) etag(full string) string {
	if full == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(full + "\x00" + strings.Join(m.paths, ",")))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}

// upstreamFields are SmartAssist's keys for the mask's top-level fields,
// for the list endpoint's `fields` parameter. The answer is still masked
// by the bridge, so asking SmartAssist for a little more is harmless. It
// returns nil when a field has no upstream key of its own (the catch-all).
func (m *readMask) upstreamFields() []string {
	if m == nil {
		return nil
	}
	var keys []string
	fields := conversationDescriptor.Fields()
	for name := range m.tree {
		fd := fields.ByName(name)
		if proto.GetExtension(fd.Options(), smartassistv1.E_CatchAll).(bool) {
			return nil
		}
		key := proto.GetExtension(fd.Options(), smartassistv1.E_UpstreamKey).(string)
		if key == "" {
			key = fd.JSONName()
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
