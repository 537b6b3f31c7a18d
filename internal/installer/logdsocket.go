package installer

import "github.com/brisk-containers/brisk/config"

// logdSocket is brisk-logd's unix socket ([logs.api] socket), "" when it
// serves none.
func logdSocket(cfg config.Config) string { return cfg.Logs.API.Socket }
