package seal_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/seal"
)

// discard publishes nowhere: the benchmarks measure sealing alone.
type discard struct{}

func (discard) Publish(string, ...*message.Message) error { return nil }
func (discard) Close() error                              { return nil }

// dossierJSON is about the size of a canonical dossier (2.5 KB).
var dossierJSON = func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":"000.00.14.H52-261121-0001","applicant":{"name":"Nguyễn Thị Hoa","idNumber":"014195001234"},"steps":[`)
	for i := 0; b.Len() < 2500; i++ {
		fmt.Fprintf(&b, `{"status":%d,"at":"2026-11-21T08:%02d:00+07:00","officer":"Cán bộ %d","note":"Tiếp nhận hồ sơ"},`, i%10+1, i%60, i)
	}
	b.WriteString(`{}]}`)
	return b.Bytes()
}()

// BenchmarkPublishSealed is the cost sealing adds to a Publish of 100
// canonical dossiers (per message).
func BenchmarkPublishSealed(b *testing.B) {
	keys := sealer(b, keyA)
	pub, err := seal.NewPublisher(discard{}, keys)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*message.Message, 100)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), dossierJSON)
		msgs[i].Metadata.Set(kafka.PartitionKeyMetadata, fmt.Sprintf("000.00.14.H52-261121-%04d", i))
	}
	b.SetBytes(int64(len(dossierJSON)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(msgs) {
		if err := pub.Publish("canonical", msgs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen is the cost of opening one sealed canonical dossier.
func BenchmarkOpen(b *testing.B) {
	keys := sealer(b, keyA)
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(kafka.PartitionKeyMetadata, "000.00.14.H52-261121-0001")
	m.Payload = keys.Seal([]byte(seal.Prefix), seal.Column, "000.00.14.H52-261121-0001", dossierJSON)
	b.SetBytes(int64(len(dossierJSON)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.Open(keys, m); err != nil {
			b.Fatal(err)
		}
	}
}
