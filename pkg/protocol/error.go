package protocol

import "fmt"

// Error is a non-success response from a peer: its code and remark. Match it with
// errors.Is against the Err* values, which compare by code only:
//
//	if errors.Is(err, protocol.ErrTopicNotExist) { ... }
type Error struct {
	Code   ResponseCode
	Remark string
}

func (e *Error) Error() string {
	if e.Remark == "" {
		return fmt.Sprintf("%s (code %d)", e.Code, int16(e.Code))
	}
	return fmt.Sprintf("%s (code %d): %s", e.Code, int16(e.Code), e.Remark)
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Retriable reports whether the request may be retried, possibly on another
// broker (ResponseCode.Retriable).
func (e *Error) Retriable() bool { return e.Code.Retriable() }

// Sentinels for errors.Is; they carry no remark.
var (
	ErrSystemError             = &Error{Code: SystemError}
	ErrSystemBusy              = &Error{Code: SystemBusy}
	ErrRequestCodeNotSupported = &Error{Code: RequestCodeNotSupported}
	ErrFlushDiskTimeout        = &Error{Code: FlushDiskTimeout}
	ErrMessageIllegal          = &Error{Code: MessageIllegal}
	ErrServiceNotAvailable     = &Error{Code: ServiceNotAvailable}
	ErrNoPermission            = &Error{Code: NoPermission}
	ErrTopicNotExist           = &Error{Code: TopicNotExist}
	ErrPullNotFound            = &Error{Code: PullNotFound}
	ErrQueryNotFound           = &Error{Code: QueryNotFound}
	ErrSubscriptionNotExist    = &Error{Code: SubscriptionNotExist}
	ErrConsumerNotOnline       = &Error{Code: ConsumerNotOnline}

	// The controller's refusals (RocketMQ 5.x codes).
	ErrControllerFencedMasterEpoch        = &Error{Code: ControllerFencedMasterEpoch}
	ErrControllerFencedSyncStateSetEpoch  = &Error{Code: ControllerFencedSyncStateSetEpoch}
	ErrControllerInvalidMaster            = &Error{Code: ControllerInvalidMaster}
	ErrControllerInvalidReplicas          = &Error{Code: ControllerInvalidReplicas}
	ErrControllerMasterNotAvailable       = &Error{Code: ControllerMasterNotAvailable}
	ErrControllerInvalidRequest           = &Error{Code: ControllerInvalidRequest}
	ErrControllerBrokerNotAlive           = &Error{Code: ControllerBrokerNotAlive}
	ErrControllerNotLeader                = &Error{Code: ControllerNotLeader}
	ErrControllerBrokerMetadataNotExist   = &Error{Code: ControllerBrokerMetadataNotExist}
	ErrControllerInvalidCleanBrokerData   = &Error{Code: ControllerInvalidCleanBrokerMetadata}
	ErrControllerBrokerNeedToBeRegistered = &Error{Code: ControllerBrokerNeedToBeRegistered}
	ErrControllerElectMasterFailed        = &Error{Code: ControllerElectMasterFailed}
	ErrControllerAlterSyncStateSetFailed  = &Error{Code: ControllerAlterSyncStateSetFailed}
)

// ResponseError turns a response into an *Error, or nil if its code is Success.
func ResponseError(resp *Command) error {
	if resp.ResponseCode() == Success {
		return nil
	}
	return &Error{Code: resp.ResponseCode(), Remark: resp.Remark}
}
