package scheduler

// Args returns the scheduler's command line arguments, in this order: the
// config file (--config configPath, when the scheduler has one), SchedArgs,
// the test's extra arguments, then the profile's flag arguments.
func (s *Scheduler) Args(configPath string, extra []string, p Profile) []string {
	var args []string
	if s.ConfigFile != "" && configPath != "" {
		args = append(args, "--config", configPath)
	}
	args = append(args, s.SchedArgs...)
	args = append(args, extra...)
	return append(args, p.Args...)
}
