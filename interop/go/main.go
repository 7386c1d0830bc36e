// Command rmq-go-harness drives Apache's official Go client (github.com/apache/rocketmq-client-go/v2)
// for rocketmq-rs's interop tests (tests/go_interop.rs). It prints one JSON object per line on
// stdout (the client's own log goes to stderr), so the Rust side can compare every byte it sent
// or received. interop/java/RmqHarness.java speaks the same sub-commands and line format.
//
//	produce -ns ADDR -group G -topic T -mode MODE -count N [-tag T] [-label L] [-size B] ...
//	push    -ns ADDR -group G -topic T [-model clustering|broadcasting] [-orderly true] [-sel-type tag|sql] [-sel EXPR]
//	        [-from first|last|timestamp] [-ts yyyyMMddHHmmss] [-expect N] [-fail-times K] [-max-reconsume M] [-reply true]
//	pull    -ns ADDR -group G -topic T [-expect N] [-ts MILLIS]
//	poll    -ns ADDR -group G -topic T [-expect N] [-seek-queue Q]
//
// Lines: {"ev":"started"}, {"ev":"sent",...}, {"ev":"recv",...}, {"ev":"reply",...},
// {"ev":"check",...}, {"ev":"offset",...}, {"ev":"alloc","queues":[...]}, {"ev":"error","what":...},
// {"ev":"done",...}.
// The exit code is 0 only when the run did everything it was asked.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// emit writes one event line; stdout is shared by callbacks on several goroutines.
func emit(ev string, fields map[string]interface{}) {
	fields["ev"] = ev
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(fields)
}

var failed = false

func fail(what string, err error) {
	msg := what
	if err != nil {
		msg = what + ": " + err.Error()
	}
	emit("error", map[string]interface{}{"what": msg})
	out.Lock()
	failed = true
	out.Unlock()
}

type common struct {
	ns, group, topic string
	timeout          time.Duration
}

func commonFlags(fs *flag.FlagSet) *common {
	c := &common{}
	fs.StringVar(&c.ns, "ns", "", "name server address (required: the client's default resolver dials an HTTP endpoint)")
	fs.StringVar(&c.group, "group", "", "producer or consumer group")
	fs.StringVar(&c.topic, "topic", "", "topic")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "bound on the whole run")
	return c
}

func (c *common) nameServer() primitive.NamesrvAddr {
	if c.ns == "" {
		fmt.Fprintln(os.Stderr, "-ns is required")
		os.Exit(2)
	}
	addr, err := primitive.NewNamesrvAddr(c.ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad -ns:", err)
		os.Exit(2)
	}
	return addr
}

// Body returns message idx's body: a readable prefix, then size bytes cycling through all 256
// values (NULs and invalid UTF-8 included), so byte-for-byte comparison means something.
func body(label string, idx, size int) []byte {
	b := []byte(fmt.Sprintf("%s:%d:", label, idx))
	for j := 0; j < size; j++ {
		b = append(b, byte(idx*7+j))
	}
	return b
}

func userProps(m map[string]string) map[string]string {
	props := map[string]string{}
	for k, v := range m {
		props[k] = v
	}
	return props
}

func msgFields(m *primitive.MessageExt) map[string]interface{} {
	queue, broker := -1, ""
	if m.Queue != nil {
		queue, broker = m.Queue.QueueId, m.Queue.BrokerName
	}
	return map[string]interface{}{
		"topic":          m.Topic,
		"tags":           m.GetTags(),
		"keys":           m.GetKeys(),
		"props":          userProps(m.GetProperties()),
		"body":           hex.EncodeToString(m.Body),
		"queue":          queue,
		"broker":         broker,
		"offset":         m.QueueOffset,
		"msgId":          m.MsgId,
		"offsetMsgId":    m.OffsetMsgId,
		"reconsumeTimes": m.ReconsumeTimes,
		"bornTs":         m.BornTimestamp,
		"storeTs":        m.StoreTimestamp,
		"sysFlag":        m.SysFlag,
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rmq-go-harness produce|push|pull|poll [flags]")
		os.Exit(2)
	}
	var ok bool
	switch os.Args[1] {
	case "produce":
		ok = produce(os.Args[2:])
	case "push":
		ok = push(os.Args[2:])
	case "pull":
		ok = pull(os.Args[2:])
	case "poll":
		ok = poll(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown sub-command", os.Args[1])
		os.Exit(2)
	}
	if !ok || failed {
		os.Exit(1)
	}
}

// ---------------------------------------------------------------------------------------------
// produce

type txListener struct {
	mu      sync.Mutex
	checked map[string]bool
	done    chan struct{}
	want    int
}

// Transaction outcome by index: 0 commit, 1 rollback, 2 unknown (the broker's check-back commits).
func txOutcome(idx int) string {
	switch idx % 3 {
	case 0:
		return "commit"
	case 1:
		return "rollback"
	default:
		return "unknown"
	}
}

func (l *txListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	idx, _ := strconv.Atoi(m.GetProperty("idx"))
	switch txOutcome(idx) {
	case "commit":
		return primitive.CommitMessageState
	case "rollback":
		return primitive.RollbackMessageState
	default:
		return primitive.UnkonwnState
	}
}

func (l *txListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	f := msgFields(m)
	f["transactionId"] = m.TransactionId
	emit("check", f)
	l.mu.Lock()
	idx := m.GetProperty("idx")
	if !l.checked[idx] {
		l.checked[idx] = true
		if len(l.checked) == l.want {
			close(l.done)
		}
	}
	l.mu.Unlock()
	return primitive.CommitMessageState
}

func produce(args []string) bool {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	c := commonFlags(fs)
	mode := fs.String("mode", "sync", "sync|async|oneway|batch|ordered|delay|transaction|request")
	count := fs.Int("count", 10, "messages to send")
	tag := fs.String("tag", "", "tag of every message (empty: tag-<idx%3>)")
	label := fs.String("label", "go", "body prefix and key prefix")
	size := fs.Int("size", 64, "pattern bytes after the body prefix (>4096 makes the client compress)")
	delayLevel := fs.Int("delay-level", 2, "delay level for -mode delay")
	shards := fs.Int("shards", 3, "sharding keys for -mode ordered")
	ttl := fs.Duration("ttl", 15*time.Second, "request-reply wait")
	_ = fs.Parse(args)

	opts := []producer.Option{
		producer.WithNameServer(c.nameServer()),
		producer.WithGroupName(c.group),
		producer.WithRetry(2),
		producer.WithSendMsgTimeout(10 * time.Second),
	}
	if *mode == "ordered" {
		opts = append(opts, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	}

	msgs := make([]*primitive.Message, *count)
	for i := range msgs {
		m := primitive.NewMessage(c.topic, body(*label, i, *size))
		t := *tag
		if t == "" {
			t = fmt.Sprintf("tag-%d", i%3)
		}
		m.WithTag(t)
		m.WithKeys([]string{fmt.Sprintf("%s-%d", *label, i)})
		m.WithProperty("idx", strconv.Itoa(i))
		m.WithProperty("mode", *mode)
		m.WithProperty("src", "go")
		switch *mode {
		case "ordered":
			m.WithShardingKey(fmt.Sprintf("k%d", i%*shards))
		case "delay":
			m.WithDelayTimeLevel(*delayLevel)
		}
		msgs[i] = m
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	started := time.Now()

	if *mode == "transaction" {
		l := &txListener{checked: map[string]bool{}, done: make(chan struct{})}
		for i := range msgs {
			if txOutcome(i) == "unknown" {
				l.want++
			}
		}
		p, err := producer.NewTransactionProducer(l, opts...)
		if err != nil {
			fail("new transaction producer", err)
			return false
		}
		if err := p.Start(); err != nil {
			fail("start", err)
			return false
		}
		defer p.Shutdown()
		emit("started", map[string]interface{}{})
		for i, m := range msgs {
			r, err := p.SendMessageInTransaction(ctx, m)
			if err != nil {
				fail(fmt.Sprintf("send %d", i), err)
				continue
			}
			f := sentFields(i, m, r.SendResult)
			f["txState"] = int(r.State)
			f["outcome"] = txOutcome(i)
			emit("sent", f)
		}
		if l.want > 0 {
			select {
			case <-l.done:
				// The client sends END_TRANSACTION after the check returns; stay up for it.
				time.Sleep(1500 * time.Millisecond)
			case <-ctx.Done():
				l.mu.Lock()
				fail(fmt.Sprintf("only %d of %d check-backs before the timeout", len(l.checked), l.want), nil)
				l.mu.Unlock()
			}
		}
		emit("done", map[string]interface{}{"ms": time.Since(started).Milliseconds()})
		return true
	}

	p, err := producer.NewDefaultProducer(opts...)
	if err != nil {
		fail("new producer", err)
		return false
	}
	if err := p.Start(); err != nil {
		fail("start", err)
		return false
	}
	defer p.Shutdown()
	emit("started", map[string]interface{}{})

	switch *mode {
	case "sync", "ordered", "delay":
		for i, m := range msgs {
			r, err := p.SendSync(ctx, m)
			if err != nil {
				fail(fmt.Sprintf("send %d", i), err)
				continue
			}
			emit("sent", sentFields(i, m, r))
		}
	case "async":
		var wg sync.WaitGroup
		for i, m := range msgs {
			i, m := i, m
			wg.Add(1)
			err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
				defer wg.Done()
				if err != nil {
					fail(fmt.Sprintf("async send %d", i), err)
					return
				}
				emit("sent", sentFields(i, m, r))
			}, m)
			if err != nil {
				wg.Done()
				fail(fmt.Sprintf("async send %d", i), err)
			}
		}
		wg.Wait()
	case "oneway":
		for i, m := range msgs {
			if err := p.SendOneWay(ctx, m); err != nil {
				fail(fmt.Sprintf("oneway send %d", i), err)
				continue
			}
			emit("sent", sentFields(i, m, nil))
		}
	case "batch":
		r, err := p.SendSync(ctx, msgs...)
		if err != nil {
			fail("batch send", err)
			break
		}
		for i, m := range msgs {
			f := sentFields(i, m, r)
			f["batch"] = true
			emit("sent", f)
		}
	case "request":
		for i, m := range msgs {
			reply, err := p.Request(ctx, *ttl, m)
			if err != nil {
				fail(fmt.Sprintf("request %d", i), err)
				continue
			}
			f := sentFields(i, m, nil)
			f["status"] = "REQUEST"
			emit("sent", f)
			emit("reply", map[string]interface{}{
				"idx":   i,
				"body":  hex.EncodeToString(reply.Body),
				"props": userProps(reply.GetProperties()),
			})
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	emit("done", map[string]interface{}{"ms": time.Since(started).Milliseconds()})
	return true
}

func sentFields(idx int, m *primitive.Message, r *primitive.SendResult) map[string]interface{} {
	f := map[string]interface{}{
		"idx":   idx,
		"topic": m.Topic,
		"tags":  m.GetTags(),
		"keys":  m.GetKeys(),
		"body":  hex.EncodeToString(m.Body),
		"props": map[string]string{"idx": m.GetProperty("idx"), "mode": m.GetProperty("mode"), "src": "go"},
	}
	if r == nil {
		f["status"] = "ONEWAY"
		return f
	}
	f["status"] = sendStatus(r.Status)
	f["msgId"] = r.MsgID
	f["offsetMsgId"] = r.OffsetMsgID
	if r.MessageQueue != nil {
		f["queue"] = r.MessageQueue.QueueId
		f["broker"] = r.MessageQueue.BrokerName
	}
	f["offset"] = r.QueueOffset
	return f
}

func sendStatus(s primitive.SendStatus) string {
	switch s {
	case primitive.SendOK:
		return "SEND_OK"
	case primitive.SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case primitive.SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case primitive.SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	default:
		return fmt.Sprintf("STATUS_%d", int(s))
	}
}

// ---------------------------------------------------------------------------------------------
// push

func selector(selType, expr string) consumer.MessageSelector {
	if selType == "sql" {
		return consumer.MessageSelector{Type: consumer.SQL92, Expression: expr}
	}
	return consumer.MessageSelector{Type: consumer.TAG, Expression: expr}
}

func push(args []string) bool {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	c := commonFlags(fs)
	model := fs.String("model", "clustering", "clustering|broadcasting")
	orderly := fs.String("orderly", "false", "true: consume orderly")
	selType := fs.String("sel-type", "tag", "tag|sql")
	sel := fs.String("sel", "*", "selector expression")
	from := fs.String("from", "first", "first|last|timestamp")
	ts := fs.String("ts", "", "yyyyMMddHHmmss for -from timestamp")
	expect := fs.Int("expect", 0, "stop after this many successfully consumed deliveries (0: until -timeout)")
	failTimes := fs.Int("fail-times", 0, "ask for redelivery while reconsumeTimes < this")
	maxReconsume := fs.Int("max-reconsume", -1, "max reconsume times before the DLQ (-1: client default)")
	linger := fs.Duration("linger", 500*time.Millisecond, "keep running this long after -expect was reached (to see duplicates)")
	instance := fs.String("instance", "", "instance name (two members of one group in one host need different ones)")
	reply := fs.String("reply", "false", "true: answer request messages (request-reply) with \"reply:\" + the request body")
	replyDelay := fs.Duration("reply-delay", 0, "pause before each reply")
	_ = fs.Parse(args)

	ns := c.nameServer()
	opts := []consumer.Option{
		consumer.WithNameServer(ns),
		consumer.WithGroupName(c.group),
		consumer.WithConsumerOrder(*orderly == "true"),
		consumer.WithConsumeMessageBatchMaxSize(1),
		consumer.WithPullInterval(0),
		// Orderly: a failed message is retried locally after this pause.
		consumer.WithSuspendCurrentQueueTimeMillis(200 * time.Millisecond),
	}
	if *instance != "" {
		opts = append(opts, consumer.WithInstance(*instance))
	}
	if *model == "broadcasting" {
		opts = append(opts, consumer.WithConsumerModel(consumer.BroadCasting))
	} else {
		opts = append(opts, consumer.WithConsumerModel(consumer.Clustering))
	}
	switch *from {
	case "last":
		opts = append(opts, consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset))
	case "timestamp":
		opts = append(opts, consumer.WithConsumeFromWhere(consumer.ConsumeFromTimestamp), consumer.WithConsumeTimestamp(*ts))
	default:
		opts = append(opts, consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	}
	if *maxReconsume >= 0 {
		opts = append(opts, consumer.WithMaxReconsumeTimes(int32(*maxReconsume)))
	}

	var replier *producerHandle
	if *reply == "true" {
		p, err := producer.NewDefaultProducer(producer.WithNameServer(ns), producer.WithGroupName(c.group+"-replier"))
		if err == nil {
			err = p.Start()
		}
		if err != nil {
			fail("reply producer", err)
			return false
		}
		defer p.Shutdown()
		replier = &producerHandle{p: p}
	}

	pc, err := consumer.NewPushConsumer(opts...)
	if err != nil {
		fail("new push consumer", err)
		return false
	}
	var mu sync.Mutex
	consumed := 0
	reached := make(chan struct{})
	err = pc.Subscribe(c.topic, selector(*selType, *sel), func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		result := consumer.ConsumeSuccess
		for _, m := range msgs {
			if int(m.ReconsumeTimes) < *failTimes {
				if *orderly == "true" {
					result = consumer.SuspendCurrentQueueAMoment
				} else {
					result = consumer.ConsumeRetryLater
				}
			}
		}
		for _, m := range msgs {
			f := msgFields(m)
			f["result"] = resultName(result)
			if _, ok := primitive.GetOrderlyCtx(ctx); ok {
				f["orderly"] = true
			}
			emit("recv", f)
			if replier != nil && result == consumer.ConsumeSuccess && consumer.GetReplyToClient(m) != "" {
				time.Sleep(*replyDelay)
				replier.reply(m)
			}
		}
		if result == consumer.ConsumeSuccess {
			mu.Lock()
			consumed += len(msgs)
			if *expect > 0 && consumed >= *expect && consumed-len(msgs) < *expect {
				close(reached)
			}
			mu.Unlock()
		}
		return result, nil
	})
	if err != nil {
		fail("subscribe", err)
		return false
	}
	if err := pc.Start(); err != nil {
		fail("start", err)
		return false
	}
	emit("started", map[string]interface{}{})
	// Reports the queues this member owns whenever they change ("alloc" events), so a test
	// can wait for a rebalance to settle before it sends.
	go reportAlloc(pc, c.topic)
	ok := true
	select {
	case <-reached:
		time.Sleep(*linger)
	case <-time.After(c.timeout):
		if *expect > 0 {
			mu.Lock()
			fail(fmt.Sprintf("consumed %d of %d before the timeout", consumed, *expect), nil)
			mu.Unlock()
			ok = false
		}
	}
	_ = pc.Shutdown()
	mu.Lock()
	emit("done", map[string]interface{}{"consumed": consumed})
	mu.Unlock()
	return ok
}

// reportAlloc emits an "alloc" event whenever the queues of topic owned by the push consumer
// change. The process queue table is reachable only through GetConsumerRunningInfo, whose
// result type lives in the client's internal package, hence reflection.
func reportAlloc(pc interface{}, topic string) {
	method := reflect.ValueOf(pc).MethodByName("GetConsumerRunningInfo")
	if !method.IsValid() {
		return
	}
	last := ""
	for {
		info := method.Call([]reflect.Value{reflect.ValueOf(false)})[0]
		queues := []int{}
		if !info.IsNil() {
			table := info.Elem().FieldByName("MQTable")
			iter := table.MapRange()
			for iter.Next() {
				mq, ok := iter.Key().Interface().(primitive.MessageQueue)
				dropped := iter.Value().FieldByName("Dropped")
				if ok && mq.Topic == topic && !(dropped.IsValid() && dropped.Bool()) {
					queues = append(queues, mq.QueueId)
				}
			}
		}
		sort.Ints(queues)
		if now := fmt.Sprint(queues); now != last {
			emit("alloc", map[string]interface{}{"queues": queues})
			last = now
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type producerHandle struct {
	p interface {
		SendSync(ctx context.Context, mq ...*primitive.Message) (*primitive.SendResult, error)
	}
}

func (h *producerHandle) reply(m *primitive.MessageExt) {
	body := append([]byte("reply:"), m.Body...)
	rm, err := consumer.CreateReplyMessage(m, body)
	if err != nil {
		fail("create reply", err)
		return
	}
	// CreateReplyMessage parses the body as properties instead of storing it (client bug).
	rm.Body = body
	// The broker finds the requester by the producer heartbeat the requester sends around its
	// first request; until that arrived it answers "channel of <client> not found".
	for try := 0; try < 20; try++ {
		if _, err = h.p.SendSync(context.Background(), rm); err == nil || !strings.Contains(err.Error(), "not found") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		fail("send reply", err)
	}
}

func resultName(r consumer.ConsumeResult) string {
	switch r {
	case consumer.ConsumeSuccess:
		return "SUCCESS"
	case consumer.ConsumeRetryLater:
		return "RETRY_LATER"
	case consumer.SuspendCurrentQueueAMoment:
		return "SUSPEND"
	default:
		return fmt.Sprintf("RESULT_%d", int(r))
	}
}

// ---------------------------------------------------------------------------------------------
// pull: PullFrom every queue from its first offset (or the offset for -ts) up to the queue's max
// offset. A pull at the end of a queue is held by the broker (the client always sets the
// suspend flag), so a queue ends at the max offset a pull reported, or after -idle with nothing.

func pull(args []string) bool {
	fs := flag.NewFlagSet("pull", flag.ExitOnError)
	c := commonFlags(fs)
	expect := fs.Int("expect", 0, "messages expected in all")
	tsMillis := fs.Int64("ts", 0, "start each queue at the offset for this time (ms since the epoch; 0: the first offset)")
	idle := fs.Duration("idle", 2*time.Second, "a pull that gets nothing for this long ends its queue")
	_ = fs.Parse(args)

	pc, err := consumer.NewPullConsumer(
		consumer.WithNameServer(c.nameServer()),
		consumer.WithGroupName(c.group),
	)
	if err != nil {
		fail("new pull consumer", err)
		return false
	}
	if err := pc.Subscribe(c.topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}); err != nil {
		fail("subscribe", err)
		return false
	}
	if err := pc.Start(); err != nil {
		fail("start", err)
		return false
	}
	defer pc.Shutdown()
	emit("started", map[string]interface{}{})
	mqs, err := pc.GetTopicRouteInfo(c.topic)
	if err != nil {
		fail("route", err)
		return false
	}
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	got := 0
	for _, mq := range mqs {
		offset := int64(0)
		if *tsMillis > 0 {
			offset, err = pc.OffsetForTimestamp(mq, *tsMillis)
			if err != nil {
				fail(fmt.Sprintf("offset for timestamp, queue %d", mq.QueueId), err)
				continue
			}
			emit("offset", map[string]interface{}{"queue": mq.QueueId, "kind": "timestamp", "offset": offset})
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), *idle)
			r, err := pc.PullFrom(ctx, mq, offset, 32)
			cancel()
			if err != nil && ctx.Err() != nil {
				emit("offset", map[string]interface{}{"queue": mq.QueueId, "kind": "end", "offset": offset})
				break
			}
			if err != nil {
				fail(fmt.Sprintf("pull queue %d at %d", mq.QueueId, offset), err)
				break
			}
			if r.Status != primitive.PullFound {
				emit("offset", map[string]interface{}{"queue": mq.QueueId, "kind": "end", "offset": offset, "status": int(r.Status)})
				break
			}
			for _, m := range r.GetMessageExts() {
				m.Queue = mq
				emit("recv", msgFields(m))
				got++
			}
			offset = r.NextBeginOffset
			if offset >= r.MaxOffset {
				emit("offset", map[string]interface{}{"queue": mq.QueueId, "kind": "end", "offset": offset})
				break
			}
		}
	}
	if *expect > 0 && got != *expect {
		fail(fmt.Sprintf("pulled %d messages, expected %d", got, *expect), nil)
	}
	emit("done", map[string]interface{}{"consumed": got})
	return true
}

// ---------------------------------------------------------------------------------------------
// poll: the lite pull consumer. Phase 1 (subscribe mode) polls -expect messages, acknowledges
// each batch, persists (commits) the offsets and reports them. Phase 2 (a new consumer of the
// same group, assign mode) seeks -seek-queue back to 0 before it starts: exactly that queue's
// messages must come again, none from the committed queues.

func newPoller(c *common) (*consumerPull, error) {
	pc, err := consumer.NewPullConsumer(
		consumer.WithNameServer(c.nameServer()),
		consumer.WithGroupName(c.group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	return &consumerPull{pc}, err
}

type consumerPull struct {
	pc interface {
		Start() error
		Shutdown() error
		Subscribe(topic string, selector consumer.MessageSelector) error
		Assign(topic string, mqs []*primitive.MessageQueue) error
		GetTopicRouteInfo(topic string) ([]*primitive.MessageQueue, error)
		Poll(ctx context.Context, timeout time.Duration) (*consumer.ConsumeRequest, error)
		ACK(ctx context.Context, cr *consumer.ConsumeRequest, consumeResult consumer.ConsumeResult)
		PersistOffset(ctx context.Context, topic string) error
		CurrentOffset(queue *primitive.MessageQueue) (int64, error)
		SeekOffset(queue *primitive.MessageQueue, offset int64)
	}
}

// drain polls until want(msg) has accepted n messages or the deadline; every message is
// reported with its phase. It returns how many messages were accepted.
func (p *consumerPull) drain(phase, n int, deadline time.Time, want func(*primitive.MessageExt) bool) int {
	got := 0
	ctx := context.Background()
	for got < n && time.Now().Before(deadline) {
		cr, err := p.pc.Poll(ctx, time.Second)
		if consumer.IsNoNewMsgError(err) {
			continue
		}
		if err != nil {
			fail("poll", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for _, m := range cr.GetMsgList() {
			if m.Queue == nil {
				m.Queue = cr.GetMQ()
			}
			f := msgFields(m)
			f["phase"] = phase
			emit("recv", f)
			if want(m) {
				got++
			} else {
				fail(fmt.Sprintf("phase %d: unexpected message from queue %d offset %d", phase, m.Queue.QueueId, m.QueueOffset), nil)
			}
		}
		p.pc.ACK(ctx, cr, consumer.ConsumeSuccess)
	}
	return got
}

func poll(args []string) bool {
	fs := flag.NewFlagSet("poll", flag.ExitOnError)
	c := commonFlags(fs)
	expect := fs.Int("expect", 0, "messages to poll before committing")
	seekQueue := fs.Int("seek-queue", -1, "phase 2: seek this queue to 0 and poll its messages again")
	_ = fs.Parse(args)
	deadline := time.Now().Add(c.timeout)
	ctx := context.Background()

	p, err := newPoller(c)
	if err == nil {
		err = p.pc.Subscribe(c.topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"})
	}
	if err == nil {
		err = p.pc.Start()
	}
	if err != nil {
		fail("phase 1 poll consumer", err)
		return false
	}
	emit("started", map[string]interface{}{})
	perQueue := map[int]int{}
	queues := map[int]*primitive.MessageQueue{}
	got := p.drain(1, *expect, deadline, func(m *primitive.MessageExt) bool {
		perQueue[m.Queue.QueueId]++
		queues[m.Queue.QueueId] = m.Queue
		return true
	})
	if got < *expect {
		fail(fmt.Sprintf("polled %d of %d before the timeout", got, *expect), nil)
		_ = p.pc.Shutdown()
		return false
	}
	if err := p.pc.PersistOffset(ctx, c.topic); err != nil {
		fail("persist offsets", err)
	}
	for q, mq := range queues {
		off, err := p.pc.CurrentOffset(mq)
		if err != nil {
			fail(fmt.Sprintf("current offset of queue %d", q), err)
			continue
		}
		emit("offset", map[string]interface{}{"queue": q, "kind": "committed", "offset": off})
	}
	_ = p.pc.Shutdown()

	if *seekQueue >= 0 {
		p2, err := newPoller(c)
		if err == nil {
			err = p2.pc.Assign(c.topic, nil)
		}
		if err == nil {
			err = p2.pc.Start()
		}
		if err != nil {
			fail("phase 2 poll consumer", err)
			return false
		}
		defer p2.pc.Shutdown()
		mqs, err := p2.pc.GetTopicRouteInfo(c.topic)
		if err != nil {
			fail("phase 2 route", err)
			return false
		}
		for _, mq := range mqs {
			if mq.QueueId == *seekQueue {
				p2.pc.SeekOffset(mq, 0)
			}
		}
		if err := p2.pc.Assign(c.topic, mqs); err != nil {
			fail("phase 2 assign", err)
			return false
		}
		again := p2.drain(2, perQueue[*seekQueue], deadline, func(m *primitive.MessageExt) bool {
			return m.Queue.QueueId == *seekQueue
		})
		if again < perQueue[*seekQueue] {
			fail(fmt.Sprintf("after the seek, queue %d gave %d of %d messages again", *seekQueue, again, perQueue[*seekQueue]), nil)
		}
	}
	emit("done", map[string]interface{}{"consumed": got})
	return true
}
