//! Thread priorities for the drivers: the media workers must never wait for the CPU (a
//! late tick is a gap the customer hears), and work done ahead of need (voicing a call's
//! sentences before they are asked for) must only take what is left over.
//!
//! Both ask the OS for the calling thread only and never fail loudly: a real-time class
//! needs a privilege (CAP_SYS_NICE or an RLIMIT_RTPRIO) a deployment may not grant, and
//! then the thread simply keeps the ordinary class. Lowering a thread's own priority is
//! always allowed. On systems other than Linux both do nothing.

/// What became of a request to change the calling thread's priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// The OS took it.
    Applied,
    /// The OS refused it (no privilege) or does not have it; the thread keeps its class.
    Refused,
}

/// Puts the calling thread in the round-robin real-time class at `level` (1..=99, kept
/// low: above every ordinary thread, below the kernel's own real-time threads). Meant for
/// threads that sleep most of the time and must run the moment they wake (media ticks).
pub fn realtime_current_thread(level: i32) -> Priority {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param {
            sched_priority: level.clamp(1, 99),
        };
        // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is
        // the calling thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
        if rc == 0 {
            return Priority::Applied;
        }
        Priority::Refused
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = level;
        Priority::Refused
    }
}

/// Raises the calling thread's nice value by `by` (1..=19), so ordinary threads win the
/// CPU whenever they want it; allowed without privileges. On Linux a nice value is per
/// thread.
pub fn lower_current_thread(by: i32) -> Priority {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let Ok(tid) = libc::id_t::try_from(tid) else {
            return Priority::Refused;
        };
        // SAFETY: plain system calls on the calling thread's id; errno is reset first so
        // a legitimate -1 from getpriority is told apart from a failure.
        let rc = unsafe {
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            if now == -1 && *libc::__errno_location() != 0 {
                return Priority::Refused;
            }
            libc::setpriority(libc::PRIO_PROCESS, tid, (now + by.clamp(1, 19)).min(19))
        };
        if rc == 0 {
            Priority::Applied
        } else {
            Priority::Refused
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = by;
        Priority::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_thread_reads_back_its_new_nice_value_and_others_keep_theirs() {
        #[cfg(target_os = "linux")]
        {
            let nice = || unsafe {
                libc::getpriority(
                    libc::PRIO_PROCESS,
                    libc::syscall(libc::SYS_gettid) as libc::id_t,
                )
            };
            let before = nice();
            let lowered = std::thread::spawn(move || {
                let applied = lower_current_thread(5);
                (applied, nice())
            })
            .join()
            .expect("thread");
            assert_eq!(lowered.0, Priority::Applied);
            assert_eq!(lowered.1, (before + 5).min(19));
            // Only the calling thread changed.
            assert_eq!(nice(), before);
        }
    }

    #[test]
    fn asking_for_real_time_either_takes_or_leaves_the_thread_as_it_was() {
        std::thread::spawn(|| {
            #[cfg(target_os = "linux")]
            {
                let class = || unsafe { libc::sched_getscheduler(0) };
                let before = class();
                match realtime_current_thread(5) {
                    Priority::Applied => assert_eq!(class(), libc::SCHED_RR),
                    Priority::Refused => assert_eq!(class(), before),
                }
            }
        })
        .join()
        .expect("thread");
    }
}
