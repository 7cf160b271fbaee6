package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/broker"
	"github.com/petrelmq/petrel/internal/controller"
	"github.com/petrelmq/petrel/internal/namesrv"
	"github.com/petrelmq/petrel/internal/properties"
)

// Every configuration file in deploy/conf loads with no unknown and no ignored
// key and validates, so a typo there fails here rather than in a container.
// Roles this build cannot run yet (replication) are reported as such and
// nothing else.
func TestDeployConfigsLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../deploy/conf/*.conf")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	fo, err := filepath.Glob("../../deploy/conf/failover/*.conf")
	require.NoError(t, err)
	require.Len(t, fo, 6)
	files = append(files, fo...)
	for _, file := range files {
		f, err := properties.Load(file)
		require.NoError(t, err, file)
		b := properties.NewBinder()
		var validate func() error
		if strings.HasPrefix(filepath.Base(file), "namesrv") {
			cfg := namesrv.DefaultConfig()
			cfg.BindProperties(b)
			ctl := controller.DefaultConfig()
			ctl.BindProperties(b)
			validate = func() error {
				if cfg.EnableControllerInNamesrv {
					if err := ctl.Validate(); err != nil {
						return err
					}
				}
				return cfg.Validate()
			}
		} else {
			cfg := broker.DefaultConfig()
			cfg.BindProperties(b)
			validate = func() error {
				err := cfg.Validate()
				if err != nil && cfg.BrokerRole != broker.RoleAsyncMaster && !replicationSupported() {
					require.ErrorContains(t, err, "needs replication", file)
					return nil
				}
				return err
			}
		}
		res, err := b.Apply(f)
		require.NoError(t, err, file)
		require.NoError(t, res.Err(), file)
		require.Empty(t, res.Ignored, "%s: keys with no effect", file)
		require.NoError(t, validate(), file)
	}
	_, err = os.Stat("../../deploy/cluster.yml")
	require.NoError(t, err)
}

// replicationSupported reports whether this build runs slaves: a SLAVE
// configuration validates.
func replicationSupported() bool {
	cfg := broker.DefaultConfig()
	cfg.BrokerRole, cfg.BrokerID = broker.RoleSlave, 1
	return cfg.Validate() == nil
}
