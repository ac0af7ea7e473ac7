//! A C callback that runs repeatedly (an interval timer's notifications, a
//! progress callback), as a stream of the values its closure produces.
//!
//! Values are queued without bound: a C callback cannot wait for the
//! consumer (blocking the C library's thread, often its event loop or timer
//! thread, could deadlock a consumer that runs on that loop), and dropping
//! values silently would lose notifications. The queue grows only while the
//! consumer falls behind.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{contain, lock, register};

/// Makes the two halves of a stream fed by a C callback: the [`Sender`]
/// goes into the closure that C calls, as often as it likes and from any
/// thread; the [`CallbackStream`] yields the values sent, in order, and ends
/// once every `Sender` (it is `Clone`) is dropped.
///
/// ```text
/// let (sender, stream) = stream_channel::<V>();
/// let boxed = T::boxed(move |a, b| sender.send(f(a, b)));
/// ```
#[must_use = "dropping both halves does nothing"]
pub fn stream_channel<V>() -> (Sender<V>, CallbackStream<V>) {
    let cell = Arc::new(Mutex::new(Queue {
        values: VecDeque::new(),
        waker: None,
        senders: 1,
        receiving: true,
    }));
    let sender = Sender {
        cell: Arc::clone(&cell),
    };
    let stream = CallbackStream { cell, ended: false };
    (sender, stream)
}

struct Queue<V> {
    /// Sent, not yet received.
    values: VecDeque<V>,
    /// The waker of the latest `poll_next` that found nothing.
    waker: Option<Waker>,
    /// Live `Sender`s; the stream ends when this is 0 and `values` is empty.
    senders: usize,
    /// False once the stream is dropped: values sent then are dropped.
    receiving: bool,
}

/// The sending half of a [`stream`](fn@crate::stream), moved into the
/// closure that C calls repeatedly.
///
/// [`send`](Sender::send) takes `&self`, so a `Fn` closure called on several
/// threads at once can share one `Sender`; it is `Send` and `Sync` if `V` is
/// `Send`. It is `Clone`, for a stream fed by several callbacks; the stream
/// ends when the last clone is dropped.
pub struct Sender<V> {
    cell: Arc<Mutex<Queue<V>>>,
}

impl<V> Sender<V> {
    /// Queues `value` for the stream and wakes it. If the stream was
    /// dropped, `value` is dropped here, on the sending thread.
    ///
    /// A panic of the stream's waker (or of that drop) unwinds out of this
    /// call, to be handled like any other panic of the callback.
    pub fn send(&self, value: V) {
        let mut queue = lock(&self.cell);
        if !queue.receiving {
            drop(queue);
            drop(value);
            return;
        }
        queue.values.push_back(value);
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the stream was dropped: values sent now are dropped at once.
    /// A callback that can ask C to stop calling it (a `GSourceFunc`
    /// returning `G_SOURCE_REMOVE`) can use this to stop.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        !lock(&self.cell).receiving
    }
}

impl<V> Clone for Sender<V> {
    fn clone(&self) -> Self {
        lock(&self.cell).senders += 1;
        Sender {
            cell: Arc::clone(&self.cell),
        }
    }
}

impl<V> Drop for Sender<V> {
    /// Dropping the last `Sender` ends the stream (after the values already
    /// queued) and wakes it. While a panic unwinds, a panic of the stream's
    /// waker is caught rather than aborting the process.
    fn drop(&mut self) {
        let waker = {
            let mut queue = lock(&self.cell);
            queue.senders -= 1;
            if queue.senders == 0 {
                queue.waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            if std::thread::panicking() {
                contain(move || waker.wake());
            } else {
                waker.wake();
            }
        }
    }
}

impl<V> fmt::Debug for Sender<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The values that a C callback sends through a [`Sender`], in the order
/// they were sent; ends once every `Sender` is dropped and the queue is
/// drained. After it ended it keeps returning `None`.
///
/// Poll it with [`poll_next`](CallbackStream::poll_next), or await
/// [`recv`](CallbackStream::recv); with the `futures-core` feature it also
/// implements `futures_core::Stream`. Dropping it makes later sends drop
/// their values on the sending thread; values already queued are dropped
/// with it, on the dropping thread.
pub struct CallbackStream<V> {
    cell: Arc<Mutex<Queue<V>>>,
    /// Whether `poll_next` returned `None`.
    ended: bool,
}

impl<V> CallbackStream<V> {
    /// The next value, `Poll::Ready(None)` once the stream ended, or
    /// `Poll::Pending`, and then `cx`'s waker is woken by the next send or
    /// by the drop of the last `Sender`.
    pub fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        let mut queue = lock(&self.cell);
        if let Some(value) = queue.values.pop_front() {
            drop(queue);
            return Poll::Ready(Some(value));
        }
        if queue.senders == 0 {
            drop(queue);
            self.get_mut().ended = true;
            return Poll::Ready(None);
        }
        let replaced = register(&mut queue.waker, cx.waker());
        drop(queue);
        drop(replaced);
        Poll::Pending
    }

    /// Waits for the next value; `None` once the stream ended.
    pub fn recv(&mut self) -> impl Future<Output = Option<V>> + '_ {
        poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// Whether `poll_next` returned `None`: the stream ended.
    #[cfg(any(test, feature = "futures-core"))]
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<V> Drop for CallbackStream<V> {
    fn drop(&mut self) {
        let (values, waker) = {
            let mut queue = lock(&self.cell);
            queue.receiving = false;
            (mem::take(&mut queue.values), queue.waker.take())
        };
        drop(waker);
        drop(values);
    }
}

impl<V> fmt::Debug for CallbackStream<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (queued, ended) = {
            let queue = lock(&self.cell);
            (queue.values.len(), queue.senders == 0)
        };
        f.debug_struct("CallbackStream")
            .field("queued", &queued)
            .field("senders_dropped", &ended)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "futures-core")]
impl<V> futures_core::Stream for CallbackStream<V> {
    type Item = V;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        CallbackStream::poll_next(self, cx)
    }
}

#[cfg(feature = "futures-core")]
impl<V> futures_core::stream::FusedStream for CallbackStream<V> {
    fn is_terminated(&self) -> bool {
        CallbackStream::is_terminated(self)
    }
}

/// A callback whose calls feed a stream: `make` receives the [`Sender`]
/// and builds the C-side callback around it (usually a callback type's
/// `boxed`); the stream ends when the last `Sender` is dropped (the
/// callback destroyed; not when C destroys a `local` type's holder on
/// another thread than its own: the closure, `Sender` included, is then
/// leaked, reported, and the stream stays open, so use a `send` type where
/// C may destroy on another thread).
pub fn stream<V, X>(make: impl FnOnce(Sender<V>) -> X) -> (X, CallbackStream<V>) {
    let (sender, stream) = stream_channel();
    (make(sender), stream)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Panicky, block_on, counting_waker, poll_once};
    use super::*;
    use std::panic::{AssertUnwindSafe, UnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::thread;

    fn assert_traits<T: Send + Sync + Unpin + UnwindSafe>() {}

    #[test]
    fn auto_traits() {
        assert_traits::<Sender<String>>();
        assert_traits::<CallbackStream<String>>();
        assert_traits::<Sender<std::cell::Cell<u8>>>();
    }

    /// Polls `stream` once with `waker`.
    fn poll_next_once<V>(stream: &mut CallbackStream<V>, waker: &Waker) -> Poll<Option<V>> {
        Pin::new(stream).poll_next(&mut Context::from_waker(waker))
    }

    #[test]
    fn values_arrive_in_order_and_the_stream_ends_on_sender_drop() {
        let (sender, mut stream) = stream_channel();
        for value in 1..=5 {
            sender.send(value);
        }
        drop(sender);
        let mut received = Vec::new();
        while let Some(value) = block_on(stream.recv()) {
            received.push(value);
        }
        assert_eq!(received, [1, 2, 3, 4, 5]);
        assert!(stream.is_terminated());
        // It stays ended.
        assert_eq!(block_on(stream.recv()), None);
    }

    #[test]
    fn stream_ends_only_when_the_last_clone_is_dropped() {
        let (sender, mut stream) = stream_channel::<u32>();
        let clone = sender.clone();
        let (counter, waker) = counting_waker();
        drop(sender);
        assert!(poll_next_once(&mut stream, &waker).is_pending());
        assert!(!stream.is_terminated());
        clone.send(1);
        assert_eq!(counter.wakes(), 1);
        assert_eq!(poll_next_once(&mut stream, &waker), Poll::Ready(Some(1)));
        assert!(poll_next_once(&mut stream, &waker).is_pending());
        thread::spawn(move || drop(clone)).join().unwrap();
        assert_eq!(counter.wakes(), 2);
        assert_eq!(poll_next_once(&mut stream, &waker), Poll::Ready(None));
        assert_eq!(poll_next_once(&mut stream, &waker), Poll::Ready(None));
    }

    #[test]
    fn a_send_from_another_thread_wakes_the_stream_once() {
        let (sender, mut stream) = stream_channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_next_once(&mut stream, &waker).is_pending());
        let sender = thread::spawn(move || {
            sender.send(1);
            sender.send(2);
            sender.send(3);
            sender
        })
        .join()
        .unwrap();
        // Woken by the first send; the next two found no waker to wake.
        assert_eq!(counter.wakes(), 1);
        assert_eq!(Arc::strong_count(&counter), 2);
        for value in 1..=3 {
            assert_eq!(
                poll_next_once(&mut stream, &waker),
                Poll::Ready(Some(value))
            );
        }
        assert!(poll_next_once(&mut stream, &waker).is_pending());
        assert!(poll_next_once(&mut stream, &waker).is_pending());
        // The same waker is stored once, not cloned again.
        assert_eq!(Arc::strong_count(&counter), 3);
        let (other, other_waker) = counting_waker();
        assert!(poll_next_once(&mut stream, &other_waker).is_pending());
        assert_eq!(Arc::strong_count(&counter), 2);
        sender.send(4);
        assert_eq!((counter.wakes(), other.wakes()), (1, 1));
        assert_eq!(poll_next_once(&mut stream, &waker), Poll::Ready(Some(4)));
    }

    #[test]
    fn sends_after_the_stream_is_dropped_drop_their_values_on_the_sending_thread() {
        struct Tracked(Arc<Mutex<Vec<thread::ThreadId>>>);
        impl Drop for Tracked {
            fn drop(&mut self) {
                self.0.lock().unwrap().push(thread::current().id());
            }
        }
        let drops = Arc::new(Mutex::new(Vec::new()));
        let (sender, stream) = stream_channel();
        sender.send(Tracked(Arc::clone(&drops)));
        sender.send(Tracked(Arc::clone(&drops)));
        assert!(!sender.is_closed());
        let dropping = thread::spawn(move || {
            drop(stream);
            thread::current().id()
        })
        .join()
        .unwrap();
        // The two queued values were dropped with the stream.
        assert_eq!(*drops.lock().unwrap(), [dropping, dropping]);
        assert!(sender.is_closed());
        let tracked = Tracked(Arc::clone(&drops));
        let sending = thread::spawn(move || {
            sender.send(tracked);
            thread::current().id()
        })
        .join()
        .unwrap();
        assert_eq!(*drops.lock().unwrap(), [dropping, dropping, sending]);
    }

    #[test]
    fn several_threads_send_and_every_value_arrives_in_per_thread_order() {
        let (threads, per_thread) = if cfg!(miri) { (3, 8) } else { (4, 250) };
        let (sender, mut stream) = stream_channel::<(usize, usize)>();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let sender = sender.clone();
                thread::spawn(move || {
                    for i in 0..per_thread {
                        sender.send((t, i));
                    }
                })
            })
            .collect();
        drop(sender);
        let mut next = vec![0; threads];
        while let Some((t, i)) = block_on(stream.recv()) {
            assert_eq!(i, next[t]);
            next[t] += 1;
        }
        assert_eq!(next, vec![per_thread; threads]);
        for handle in handles {
            handle.join().unwrap();
        }
    }

    #[test]
    fn one_sender_shared_by_concurrent_calls() {
        let (sender, mut stream) = stream_channel::<usize>();
        let calls = if cfg!(miri) { 6 } else { 200 };
        let total = AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for i in 0..calls {
                        sender.send(i);
                    }
                });
            }
            scope.spawn(|| {
                let mut received = 0;
                while received < 2 * calls {
                    if let Some(value) = block_on(stream.recv()) {
                        total.fetch_add(value, SeqCst);
                        received += 1;
                    }
                }
            });
        });
        assert_eq!(total.load(SeqCst), calls * (calls - 1));
    }

    #[test]
    fn last_sender_dropped_while_unwinding_with_a_panicking_waker_does_not_abort() {
        let (sender, mut stream) = stream_channel::<u32>();
        let panicky = Waker::from(Arc::new(Panicky));
        assert!(poll_next_once(&mut stream, &panicky).is_pending());
        let unwound = catch_unwind(AssertUnwindSafe(move || {
            let _sender = sender;
            panic!("the closure panics");
        }));
        assert_eq!(
            unwound.unwrap_err().downcast_ref::<&str>(),
            Some(&"the closure panics")
        );
        let (_counter, waker) = counting_waker();
        assert_eq!(poll_next_once(&mut stream, &waker), Poll::Ready(None));
    }

    #[test]
    fn recv_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let (sender, mut stream) = stream_channel::<u32>();
        sender.send(3);
        let mut next = Box::pin(stream.recv());
        assert_send(&next);
        let (_counter, waker) = counting_waker();
        assert_eq!(poll_once(&mut next, &waker), Poll::Ready(Some(3)));
    }

    #[cfg(feature = "futures-core")]
    #[test]
    fn futures_core_stream_and_fused_stream() {
        use futures_core::stream::{FusedStream, Stream};
        let (sender, mut stream) = stream_channel::<u32>();
        sender.send(1);
        drop(sender);
        let (_counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(
            Stream::poll_next(Pin::new(&mut stream), &mut cx),
            Poll::Ready(Some(1))
        );
        assert!(!FusedStream::is_terminated(&stream));
        assert_eq!(
            Stream::poll_next(Pin::new(&mut stream), &mut cx),
            Poll::Ready(None)
        );
        assert!(FusedStream::is_terminated(&stream));
    }

    #[test]
    fn debug_shows_the_queue() {
        let (sender, stream) = stream_channel::<u32>();
        sender.send(1);
        assert!(format!("{stream:?}").contains("queued: 1"));
        assert!(format!("{sender:?}").contains("closed: false"));
    }
}
