// Package message defines RocketMQ 4.x messages as the broker stores them and as
// clients see them: Message and MessageExt, the typed offsets PhysOffset and
// QueueOffset, MessageQueue, the property string, sysFlag bits, message ids, the
// tags hash code, the stored record layout and the batch body. It uses only the
// standard library and is shared by the broker, the store and the Go SDK.
//
// Decoders never panic on any input and never allocate more than the input's
// length allows; ParseRecord and ParseBatch allocate nothing and return slices that
// alias their input. Values are not safe for concurrent mutation; functions are
// safe for concurrent use.
//
// # Stored record (message format V1)
//
// Big-endian. Every formats constant here is part of the on-disk and wire format;
// never change it. With IPv4 hosts:
//
//	 0                   4                   8                  12
//	+-------------------+-------------------+-------------------+
//	| TOTALSIZE int32   | MAGIC 0xDAA320A7  | BODYCRC int32     |
//	+-------------------+-------------------+-------------------+
//	12                  16                  20                           28
//	+-------------------+-------------------+-----------------------------+
//	| QUEUEID int32     | FLAG int32        | QUEUEOFFSET int64           |
//	+-------------------+-------------------+-----------------------------+
//	28                            36                  40                           48
//	+-----------------------------+-------------------+-----------------------------+
//	| PHYSICALOFFSET int64        | SYSFLAG int32     | BORNTIMESTAMP int64 (ms)    |
//	+-----------------------------+-------------------+-----------------------------+
//	48                  56                           64                  72
//	+-------------------+-----------------------------+-------------------+
//	| BORNHOST ip4+port | STORETIMESTAMP int64 (ms)   | STOREHOST ip4+port|
//	+-------------------+-----------------------------+-------------------+
//	72                  76                           84
//	+-------------------+-----------------------------+
//	| RECONSUMETIMES    | PREPARED_TX_OFFSET int64    |
//	+-------------------+-----------------------------+
//	84
//	+------------------+------+-----------+-------+------------------+------------+
//	| BODYLENGTH int32 | BODY | TOPICLEN  | TOPIC | PROPSLEN int16   | PROPERTIES |
//	|                  |      | 1 byte u8 |       |                  |            |
//	+------------------+------+-----------+-------+------------------+------------+
//
// TOTALSIZE counts the whole record including itself: 91 + body + topic +
// properties, plus 12 for each IPv6 host. A host is 4 address bytes and an int32
// port, or 16 address bytes and an int32 port when sysFlag bit 0x10 (BORNHOST) or
// 0x20 (STOREHOST) is set; fields after an IPv6 host shift by 12. BODYCRC is CRC-32
// (IEEE) of the body as stored, masked with 0x7FFFFFFF; it covers nothing else.
//
// A blank record (MAGIC 0xCBD43194) fills the end of a commit-log segment: its
// TOTALSIZE is the number of bytes left in the segment; only TOTALSIZE and MAGIC
// are meaningful and it is never sent to clients:
//
//	+-------------------+-------------------+------------------------------+
//	| TOTALSIZE int32   | MAGIC 0xCBD43194  | unused (TOTALSIZE-8 bytes)   |
//	+-------------------+-------------------+------------------------------+
//
// # Property string
//
//	name 0x01 value 0x02 name 0x01 value [0x02]
//
// Writers here omit the trailing 0x02 (as Java does); readers accept both.
//
// # Batch body (SEND_BATCH_MESSAGE)
//
//	+-----------+-----------+-----------+-------+------------+------+----------+-------+
//	| TOTALSIZE | MAGIC (0) | BODYCRC(0)| FLAG  | BODYLENGTH | BODY | PROPSLEN | PROPS |
//	| int32     | int32     | int32     | int32 | int32      |      | int16    |       |
//	+-----------+-----------+-----------+-------+------------+------+----------+-------+
//
// repeated; TOTALSIZE = 22 + body + properties.
//
// # Example
//
//	m := &message.MessageExt{Message: message.Message{Topic: "T", Body: []byte("hi")}}
//	m.SetProperty(message.PropertyTags, "a")
//	rec, err := message.AppendRecord(nil, m)
//	...
//	got, n, err := message.DecodeMessage(rec)
//
// Imports: the standard library only (internal/lint).
package message
