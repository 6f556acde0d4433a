"""Training: the loop, optimizers and schedules, checkpoints, decoding and evaluation (torch).

Entry points:
  runner.training.loop.train(experiment, data, session, model=None) -> FinalResults
      (metrics, signatures, decoded test output: the host writes them with runner.run_dir.RunDir)
  runner.training.session.InProcessSession(output_dir, keep_checkpoints=5)
  runner.training.decode.decode_dataset(model, data, split, decode_spec) -> list[str]
  runner.training.checkpoint.average_checkpoints(paths) -> state_dict
"""
