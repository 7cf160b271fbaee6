package message

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Property string separators. Part of the wire and on-disk format; never change.
const (
	NameValueSeparator = '\x01' // between a name and its value
	PropertySeparator  = '\x02' // between pairs
	// KeySeparator separates the keys in the KEYS property.
	KeySeparator = " "
	// MaxPropertiesLength is the longest encoded property string a record can
	// hold (its length field is an int16).
	MaxPropertiesLength = 32767
)

// Well-known property names.
const (
	PropertyKeys                        = "KEYS"
	PropertyTags                        = "TAGS"
	PropertyWaitStoreMsgOK              = "WAIT"
	PropertyDelayTimeLevel              = "DELAY"
	PropertyRetryTopic                  = "RETRY_TOPIC"
	PropertyRealTopic                   = "REAL_TOPIC"
	PropertyRealQueueID                 = "REAL_QID"
	PropertyTransactionPrepared         = "TRAN_MSG"
	PropertyProducerGroup               = "PGROUP"
	PropertyMinOffset                   = "MIN_OFFSET"
	PropertyMaxOffset                   = "MAX_OFFSET"
	PropertyBuyerID                     = "BUYER_ID"
	PropertyOriginMessageID             = "ORIGIN_MESSAGE_ID"
	PropertyTransferFlag                = "TRANSFER_FLAG"
	PropertyCorrectionFlag              = "CORRECTION_FLAG"
	PropertyMQ2Flag                     = "MQ2_FLAG"
	PropertyReconsumeTime               = "RECONSUME_TIME"
	PropertyMsgRegion                   = "MSG_REGION"
	PropertyTraceSwitch                 = "TRACE_ON"
	PropertyUniqKey                     = "UNIQ_KEY"
	PropertyMaxReconsumeTimes           = "MAX_RECONSUME_TIMES"
	PropertyConsumeStartTimestamp       = "CONSUME_START_TIME"
	PropertyTransactionPreparedQueueOff = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyTransactionCheckTimes       = "TRANSACTION_CHECK_TIMES"
	PropertyCheckImmunityTimeInSeconds  = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropertyInstanceID                  = "INSTANCE_ID"
	PropertyCorrelationID               = "CORRELATION_ID"
	PropertyReplyToClient               = "REPLY_TO_CLIENT"
	PropertyMessageTTL                  = "TTL"
	PropertyReplyMessageArriveTime      = "ARRIVE_TIME"
	PropertyPushReplyTime               = "PUSH_REPLY_TIME"
	PropertyCluster                     = "CLUSTER"
	PropertyMessageType                 = "MSG_TYPE"
	PropertyInnerMultiDispatch          = "INNER_MULTI_DISPATCH"
	PropertyInnerMultiQueueOffset       = "INNER_MULTI_QUEUE_OFFSET"
	PropertyShardingKey                 = "SHARDING_KEY"
	PropertyTransactionID               = "__transactionId__"
	// PropertyDedupKey is Petrel's explicit de-duplication key: when a
	// message has it, a broker with a de-duplication window keys the message
	// by it instead of UNIQ_KEY (docs/design/dedup.md).
	PropertyDedupKey = "PETREL_DEDUP_KEY"
	// PropertyDedupGroup is written by a Petrel broker into a de-duplicated
	// message's record: the producer group, which recovery needs to rebuild
	// the window from the commit log.
	PropertyDedupGroup     = "PETREL_DEDUP_GROUP"
	PropertyTimerDeliverMS = "TIMER_DELIVER_MS"
)

// ErrBadProperty is returned when a property cannot be encoded: an empty name, a
// separator byte in a name or value, or an encoded string longer than
// MaxPropertiesLength.
var ErrBadProperty = errors.New("message: bad property")

// AppendProperties appends the property string of props to dst: name 0x01 value,
// pairs joined by 0x02, no trailing 0x02, names sorted so the output is
// deterministic. It fails with ErrBadProperty, leaving dst's content unchanged.
func AppendProperties(dst []byte, props map[string]string) ([]byte, error) {
	if len(props) == 0 {
		return dst, nil
	}
	var small [16]string
	names := small[:0]
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	start := len(dst)
	var err error
	for _, k := range names {
		if dst, err = appendPair(dst, start, k, props[k]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// AppendPropertiesUnsorted is AppendProperties in the map's iteration order:
// the same pairs, in an order that changes from call to call, which decoders
// ignore (RocketMQ's Java client writes HashMap order). It sorts nothing and
// allocates nothing beyond dst's growth, for the send path.
func AppendPropertiesUnsorted(dst []byte, props map[string]string) ([]byte, error) {
	start := len(dst)
	var err error
	for k, v := range props {
		if dst, err = appendPair(dst, start, k, v); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// AppendProperty appends one more pair to a property string that starts at
// dst[start:] (empty or made by the functions above). Errors as for
// AppendProperties, leaving dst[:start] unchanged.
func AppendProperty(dst []byte, start int, name, value string) ([]byte, error) {
	return appendPair(dst, start, name, value)
}

func appendPair(dst []byte, start int, k, v string) ([]byte, error) {
	if k == "" || strings.ContainsAny(k, "\x01\x02") || strings.ContainsAny(v, "\x01\x02") {
		return dst[:start], fmt.Errorf("%w: %q", ErrBadProperty, k)
	}
	if len(dst) > start {
		dst = append(dst, PropertySeparator)
	}
	dst = append(dst, k...)
	dst = append(dst, NameValueSeparator)
	dst = append(dst, v...)
	if len(dst)-start > MaxPropertiesLength {
		return dst[:start], fmt.Errorf("%w: encoded length %d > %d", ErrBadProperty, len(dst)-start, MaxPropertiesLength)
	}
	return dst, nil
}

// DecodeProperties parses a property string. It accepts the Java form (no trailing
// 0x02) and the Go form (trailing 0x02); a segment that is not exactly
// name 0x01 value with a non-empty name is skipped; a repeated name keeps its last
// value. It never fails; nil input gives a nil map.
func DecodeProperties(b []byte) map[string]string {
	if len(b) == 0 {
		return nil
	}
	return DecodePropertiesString(string(b))
}

// DecodePropertiesString is DecodeProperties of a string. The names and
// values are substrings of s: decoding allocates the map and nothing else
// (DecodeProperties copies b once).
func DecodePropertiesString(s string) map[string]string {
	var m map[string]string
	for len(s) > 0 {
		seg := s
		if i := strings.IndexByte(s, PropertySeparator); i >= 0 {
			seg, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		i := strings.IndexByte(seg, NameValueSeparator)
		if i <= 0 || strings.IndexByte(seg[i+1:], NameValueSeparator) >= 0 {
			continue
		}
		if m == nil {
			// This entry, the ones left, and room for one a broker adds
			// (CLUSTER), so a send's map is sized once.
			m = make(map[string]string, strings.Count(s, propertySeparatorString)+2)
		}
		m[seg[:i]] = seg[i+1:]
	}
	return m
}

const propertySeparatorString = string(rune(PropertySeparator))

// LookupProperty returns the value of name in the property string b without
// decoding the rest, and whether it was found (the last occurrence wins).
func LookupProperty(b []byte, name string) ([]byte, bool) {
	var val []byte
	found := false
	for len(b) > 0 {
		var seg []byte
		if i := bytes.IndexByte(b, PropertySeparator); i >= 0 {
			seg, b = b[:i], b[i+1:]
		} else {
			seg, b = b, nil
		}
		i := bytes.IndexByte(seg, NameValueSeparator)
		if i <= 0 || bytes.IndexByte(seg[i+1:], NameValueSeparator) >= 0 {
			continue
		}
		if string(seg[:i]) == name {
			val, found = seg[i+1:], true
		}
	}
	return val, found
}
