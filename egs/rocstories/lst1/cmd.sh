# Job dispatch of this recipe: local jobs (utils/run_local.sh). For Slurm (slurm.pl or
# submitit) replace these lines with a block of ../../TEMPLATE/lst1/cmd.sh.
export train_cmd="utils/run_local.sh"
export decode_cmd="utils/run_local.sh"
