package main

import (
	"context"
	"fmt"

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
