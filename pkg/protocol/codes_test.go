package protocol

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCodesMatchTable checks codes_gen.go against codes.txt, so an edit of the
// table without `go generate` fails here.
func TestCodesMatchTable(t *testing.T) {
	t.Parallel()
	f, err := os.Open("codes.txt")
	require.NoError(t, err)
	defer f.Close()
	var nreq, nresp int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		n, err := strconv.Atoi(fs[1])
		require.NoError(t, err, line)
		switch fs[0] {
		case "request":
			nreq++
			require.Equal(t, fs[2], RequestCode(n).String(), line)
		case "response":
			nresp++
			c := ResponseCode(n)
			require.Equal(t, fs[2], c.String(), line)
			require.Equal(t, len(fs) == 5 && fs[4] == "retriable", c.Retriable(), line)
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	require.NoError(t, sc.Err())
	require.Len(t, requestCodeNames, nreq, "codes_gen.go has request codes codes.txt lacks; run go generate")
	require.Len(t, responseCodeInfo, nresp, "codes_gen.go has response codes codes.txt lacks; run go generate")
}

func TestCodeStrings(t *testing.T) {
	t.Parallel()
	require.Equal(t, "SEND_MESSAGE_V2", SendMessageV2.String())
	require.Equal(t, "GET_ROUTEINFO_BY_TOPIC", GetRouteInfoByTopic.String())
	require.Equal(t, "RequestCode(9999)", RequestCode(9999).String())
	require.Equal(t, "PULL_NOT_FOUND", PullNotFound.String())
	require.Equal(t, "CODE(-7)", ResponseCode(-7).String())
	require.True(t, TopicNotExist.Retriable())
	require.False(t, Success.Retriable())
	require.False(t, ResponseCode(999).Retriable())

	c := NewRequest(PullMessage, nil)
	require.Equal(t, int16(11), c.Code)
	require.Equal(t, PullMessage, c.RequestCode())
	r := NewResponse(c, PullOffsetMoved, "")
	require.Equal(t, PullOffsetMoved, r.ResponseCode())
}

func TestErrorIsByCode(t *testing.T) {
	t.Parallel()
	err := ResponseError(&Command{Code: int16(TopicNotExist), Remark: "no route", Flag: FlagResponse})
	require.ErrorIs(t, err, ErrTopicNotExist)
	require.NotErrorIs(t, err, ErrNoPermission)
	require.Equal(t, "TOPIC_NOT_EXIST (code 17): no route", err.Error())
	var pe *Error
	require.True(t, errors.As(err, &pe))
	require.True(t, pe.Retriable())
	require.Equal(t, "CODE(99) (code 99)", (&Error{Code: 99}).Error())
	require.NoError(t, ResponseError(&Command{Code: int16(Success)}))
}
