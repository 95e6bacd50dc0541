package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"
)

// topicCounter counts the records in topics of the bench's broker.
type topicCounter struct {
	addr string
}

// count is the number of records in the topics, over all partitions; a
// topic not created yet counts none.
func (t *topicCounter) count(ctx context.Context, topics ...string) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(t.addr)}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("topic metadata: %w", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, tp := range meta.Topics {
		if tp.Error != nil {
			continue // not created yet
		}
		for _, p := range tp.Partitions {
			req.Topics[tp.Name] = append(req.Topics[tp.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req.Topics) == 0 {
		return 0, nil
	}
	res, err := c.ListOffsets(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	var n int64
	for name, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return 0, fmt.Errorf("offsets of %s/%d: %w", name, p.Partition, p.Error)
			}
			n += p.LastOffset - p.FirstOffset
		}
	}
	return n, nil
}

// lag is how many records the consumer groups named with prefix, except
// skip, have yet to commit, over the partitions assigned to their members;
// where names the lagging ones (group, topic/partition: committed..end) so
// that a stuck consumer can be told apart from a slow one.
func (t *topicCounter) lag(ctx context.Context, prefix, skip string) (n int64, where string, err error) {
	c := &kafka.Client{Addr: kafka.TCP(t.addr)}
	list, err := c.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return 0, "", fmt.Errorf("list groups: %w", err)
	}
	var ids []string
	for _, g := range list.Groups {
		if strings.HasPrefix(g.GroupID, prefix) && g.GroupID != skip {
			ids = append(ids, g.GroupID)
		}
	}
	if len(ids) == 0 {
		return 0, "", nil
	}
	desc, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return 0, "", fmt.Errorf("describe groups: %w", err)
	}
	type tp struct {
		topic     string
		partition int
	}
	committed := map[string]map[tp]int64{}
	ends := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	asked := map[tp]bool{}
	for _, g := range desc.Groups {
		if g.Error != nil {
			return 0, "", fmt.Errorf("describe group %s: %w", g.GroupID, g.Error)
		}
		topics := map[string][]int{}
		for _, m := range g.Members {
			for _, a := range m.MemberAssignments.Topics {
				topics[a.Topic] = append(topics[a.Topic], a.Partitions...)
			}
		}
		if len(topics) == 0 {
			continue
		}
		res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g.GroupID, Topics: topics})
		if err != nil {
			return 0, "", fmt.Errorf("offsets of group %s: %w", g.GroupID, err)
		}
		committed[g.GroupID] = map[tp]int64{}
		for topic, parts := range res.Topics {
			for _, p := range parts {
				k := tp{topic, p.Partition}
				committed[g.GroupID][k] = p.CommittedOffset
				if !asked[k] {
					asked[k] = true
					ends.Topics[topic] = append(ends.Topics[topic], kafka.FirstOffsetOf(p.Partition), kafka.LastOffsetOf(p.Partition))
				}
			}
		}
	}
	if len(asked) == 0 {
		return 0, "", nil
	}
	res, err := c.ListOffsets(ctx, ends)
	if err != nil {
		return 0, "", fmt.Errorf("list offsets: %w", err)
	}
	first, last := map[tp]int64{}, map[tp]int64{}
	for name, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return 0, "", fmt.Errorf("offsets of %s/%d: %w", name, p.Partition, p.Error)
			}
			first[tp{name, p.Partition}], last[tp{name, p.Partition}] = p.FirstOffset, p.LastOffset
		}
	}
	var lagging []string
	for g, offs := range committed {
		for k, off := range offs {
			if off < first[k] {
				off = first[k] // nothing committed yet
			}
			if d := last[k] - off; d > 0 {
				n += d
				lagging = append(lagging, fmt.Sprintf("%s %s/%d: %d..%d", g, k.topic, k.partition, off, last[k]))
			}
		}
	}
	slices.Sort(lagging)
	return n, strings.Join(lagging, "; "), nil
}
