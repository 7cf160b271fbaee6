package message

// SysFlag is the system flag word of a stored message: compression, transaction
// type and host address families. The bit values are part of the wire and on-disk
// format; never change them.
type SysFlag int32

// SysFlag bits.
const (
	SysFlagCompressed SysFlag = 0x1 // body compressed (zlib unless the compression type bits say otherwise)
	SysFlagMultiTags  SysFlag = 0x2 // set by the broker for MULTI_TAG topic filter types

	SysFlagTransactionNotType      SysFlag = 0x0 // normal message (transaction bits clear)
	SysFlagTransactionPreparedType SysFlag = 0x4 // half message as sent by the producer
	SysFlagTransactionCommitType   SysFlag = 0x8 // committed transactional message as stored
	SysFlagTransactionRollbackType SysFlag = 0xC // rolled back
	sysFlagTransactionMask         SysFlag = 0xC

	SysFlagBornHostV6  SysFlag = 0x10 // BORNHOST is 16 address bytes + port
	SysFlagStoreHostV6 SysFlag = 0x20 // STOREHOST is 16 address bytes + port
	SysFlagNeedUnwrap  SysFlag = 0x40 // reserved by RocketMQ 4.9.8; unused here
	SysFlagInnerBatch  SysFlag = 0x80 // reserved by RocketMQ 4.9.8; unused here

	SysFlagCompressionLZ4  SysFlag = 0x100
	SysFlagCompressionZSTD SysFlag = 0x200
	SysFlagCompressionZLIB SysFlag = 0x300
	sysFlagCompressionMask SysFlag = 0x700
)

// TransactionType returns f's transaction bits (one of the SysFlagTransaction*
// values).
func (f SysFlag) TransactionType() SysFlag { return f & sysFlagTransactionMask }

// WithTransactionType returns f with its transaction bits replaced by t.
func (f SysFlag) WithTransactionType(t SysFlag) SysFlag {
	return f&^sysFlagTransactionMask | t&sysFlagTransactionMask
}

// CompressionType returns f's compression-type bits (0, LZ4, ZSTD or ZLIB).
func (f SysFlag) CompressionType() SysFlag { return f & sysFlagCompressionMask }

// Has reports whether all bits of b are set in f.
func (f SysFlag) Has(b SysFlag) bool { return f&b == b }
