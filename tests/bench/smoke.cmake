# Runs `gantry-bench --smoke --scenario all` (the outage scenario included, at
# smoke size) and checks that it succeeded and printed figures for every
# scenario. Timings are never asserted.
execute_process(
  COMMAND ${BENCH} --smoke --scenario all --controller-bin ${CONTROLLER}
          --json ${OUT_DIR}/bench-smoke.json
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gantry-bench --smoke failed (${rc}):\n${err}")
endif()
foreach(prefix latency.trigger_to_assign.p50 throughput.jobs_per_second
               fanout.all_done scale.controller_rss_per_agent outage.rss_peak_during
               outage.recovery.all_live outage.all_jobs_finished outage.console_bytes_lost
               materials.controller_cpu_share)
  if(NOT out MATCHES "(^|\n)${prefix} [-0-9.e+]+ [^\n]+")
    message(FATAL_ERROR "no '${prefix} VALUE UNIT' line in the output:\n${out}\n${err}")
  endif()
endforeach()
# The artifact RPCs print either figures or that they are not implemented.
if(NOT out MATCHES "(^|\n)artifacts\\.[^ ]+ [-0-9.e+]+ ")
  message(FATAL_ERROR "no artifacts figure in the output:\n${out}\n${err}")
endif()
if(NOT EXISTS ${OUT_DIR}/bench-smoke.json)
  message(FATAL_ERROR "no JSON file written")
endif()
