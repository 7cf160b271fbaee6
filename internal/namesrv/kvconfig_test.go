package namesrv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/stretchr/testify/require"
)

func TestKVStorePersistsAndReloads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "namesrv", "kvConfig.json")
	kv := newKVStore(vfs.OS, path)
	require.NoError(t, kv.load()) // missing file: empty
	_, ok := kv.list("ns")
	require.False(t, ok)

	require.NoError(t, kv.put("ns", "a", "1"))
	require.NoError(t, kv.put("ns", "b", "2"))
	require.NoError(t, kv.put(NamespaceOrderTopicConfig, "T", "broker-a:4"))
	require.NoError(t, kv.delete("ns", "b"))
	require.NoError(t, kv.delete("nope", "x"))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.JSONEq(t, `{"configTable":{"ns":{"a":"1"},"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}`, string(data))

	kv2 := newKVStore(vfs.OS, path)
	require.NoError(t, kv2.load())
	v, ok := kv2.get("ns", "a")
	require.True(t, ok)
	require.Equal(t, "1", v)
	_, ok = kv2.get("ns", "b")
	require.False(t, ok)
	m, ok := kv2.list(NamespaceOrderTopicConfig)
	require.True(t, ok)
	require.Equal(t, map[string]string{"T": "broker-a:4"}, m)
}

// A file written by the Java name server loads as is.
func TestKVStoreLoadsJavaFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kvConfig.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
	"configTable":{
		"ORDER_TOPIC_CONFIG":{
			"TopicTest":"broker-a:4;broker-b:4"
		}
	}
}`), 0o644))
	kv := newKVStore(vfs.OS, path)
	require.NoError(t, kv.load())
	v, ok := kv.get(NamespaceOrderTopicConfig, "TopicTest")
	require.True(t, ok)
	require.Equal(t, "broker-a:4;broker-b:4", v)
}

func TestKVStoreCorruptFileFailsLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kvConfig.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"configTable":`), 0o644))
	require.Error(t, newKVStore(vfs.OS, path).load())
}

// Concurrent changes all land, and the file ends with the final table.
func TestKVStoreConcurrentPuts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kvConfig.json")
	kv := newKVStore(vfs.OS, path)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			require.NoError(t, kv.put("ns", string(rune('a'+i)), "v"))
		})
	}
	wg.Wait()
	kv2 := newKVStore(vfs.OS, path)
	require.NoError(t, kv2.load())
	m, _ := kv2.list("ns")
	require.Len(t, m, 8)
}
