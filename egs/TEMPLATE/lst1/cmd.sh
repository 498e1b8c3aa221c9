# Job dispatch, the ESPnet/Kaldi way: the recipe scripts run their heavy jobs as
#
#     ${train_cmd} JOB=1:N <dir>/log/<name>.JOB.log <command ... JOB ...>
#
# (N jobs, every "JOB" replaced by 1..N, one log per job) or ${train_cmd} <log> <command> for
# one job. Every recipe's cmd.sh picks the backend; copy one of the blocks below into it.
# Sourced by lst.sh / asr.sh / tts.sh after path.sh, from the recipe directory.
#
# ---- local (default): utils/run_local.sh, our own run.pl-style runner -------------------
# Runs the N jobs on this machine, all at once (--max_jobs_run limits that).
#     export train_cmd="utils/run_local.sh"
#     export decode_cmd="utils/run_local.sh"
#
# ---- Slurm through ESPnet/Kaldi's slurm.pl (needs an ESPnet checkout) --------------------
# slurm.pl submits one job array per call and waits for it; it reads conf/slurm.conf of the
# recipe (ESPnet's egs2/TEMPLATE/asr1/conf/slurm.conf is a template: partitions, --mem, --gpu).
#     ESPNET_ROOT=/path/to/espnet
#     export train_cmd="${ESPNET_ROOT}/egs2/TEMPLATE/asr1/utils/slurm.pl --config conf/slurm.conf --mem 8G"
#     export decode_cmd="${ESPNET_ROOT}/egs2/TEMPLATE/asr1/utils/slurm.pl --config conf/slurm.conf --mem 4G"
#
# ---- Slurm (or local processes) through submitit (PyPI, in tools/requirements.txt) ------
# utils/submitit_run.py submits the N jobs as one Slurm job array with submitit and waits;
# --cluster local runs them as local processes through submitit (for a dry run).
#     export train_cmd="python3 utils/submitit_run.py --cluster slurm --partition cpu --cpus 4 --mem 16G --time 600"
#     export decode_cmd="python3 utils/submitit_run.py --cluster slurm --partition gpu --gpus 1 --time 600"
#
# Training itself (lst.sh stage 9) is one distributed job: see "Multi-process and multi-node
# training" in the README for torchrun / srun.
export train_cmd="utils/run_local.sh"
export decode_cmd="utils/run_local.sh"
